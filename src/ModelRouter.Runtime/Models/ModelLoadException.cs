namespace ModelRouter.Runtime.Models;

/// <summary>llama.cpp refused or failed to load a model that passed our own validation; carries its error text.</summary>
public sealed class ModelLoadException : Exception
{
    public ModelLoadException(string filePath, string problem)
        : base($"Could not load model '{filePath}': {problem}")
    {
        FilePath = filePath;
        Problem = problem;
    }

    public ModelLoadException()
        : this("(unknown)", "unknown error")
    {
    }

    public ModelLoadException(string message)
        : base(message)
    {
        FilePath = "(unknown)";
        Problem = message;
    }

    public ModelLoadException(string message, Exception innerException)
        : base(message, innerException)
    {
        FilePath = "(unknown)";
        Problem = message;
    }

    public string FilePath { get; }

    public string Problem { get; }
}
