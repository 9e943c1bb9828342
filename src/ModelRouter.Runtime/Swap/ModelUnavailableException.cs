namespace ModelRouter.Runtime.Swap;

/// <summary>A pooled model cannot be made resident (file gone, load failed, larger than the budget, unknown name).</summary>
public sealed class ModelUnavailableException : Exception
{
    public ModelUnavailableException(string modelName, string problem, Exception? innerException = null)
        : base($"Model '{modelName}' is unavailable: {problem}", innerException)
    {
        ModelName = modelName;
        Problem = problem;
    }

    public ModelUnavailableException()
        : this("(unknown)", "unknown reason")
    {
    }

    public ModelUnavailableException(string message)
        : base(message)
    {
        ModelName = "(unknown)";
        Problem = message;
    }

    public ModelUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
        ModelName = "(unknown)";
        Problem = message;
    }

    public string ModelName { get; }

    public string Problem { get; }
}
