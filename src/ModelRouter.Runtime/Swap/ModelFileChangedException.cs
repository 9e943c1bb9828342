namespace ModelRouter.Runtime.Swap;

/// <summary>
/// A store found its model's file changed (truncated, rewritten, replaced or deleted) when it was about to read it, or
/// while it read it. The pool turns it into a <see cref="ModelUnavailableException"/> (the model Failed) or, with
/// <see cref="ModelRegistration.ReloadOnChange"/>, into a reload from the new file.
/// </summary>
public sealed class ModelFileChangedException : Exception
{
    public ModelFileChangedException(string modelName, string problem)
        : base($"Model '{modelName}': {problem}")
    {
        ModelName = modelName;
        Problem = problem;
    }

    public ModelFileChangedException(string modelName, string problem, Exception innerException)
        : base($"Model '{modelName}': {problem}", innerException)
    {
        ModelName = modelName;
        Problem = problem;
    }

    public ModelFileChangedException()
        : this("(unknown)", "its file changed")
    {
    }

    public ModelFileChangedException(string message)
        : this("(unknown)", message)
    {
    }

    public ModelFileChangedException(string message, Exception innerException)
        : base(message, innerException)
    {
        ModelName = "(unknown)";
        Problem = message;
    }

    public string ModelName { get; }

    /// <summary>What changed, naming the file.</summary>
    public string Problem { get; }
}
