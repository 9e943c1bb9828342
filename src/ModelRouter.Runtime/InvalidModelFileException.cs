namespace ModelRouter.Runtime;

/// <summary>
/// A model file that is missing, unreadable or malformed. Raised by managed validation before any native call,
/// so that llama.cpp never sees a file it would crash or misbehave on.
/// </summary>
/// <remarks>
/// Every failure to open or parse a model file surfaces as this one type, including a missing or unreadable
/// file (the <see cref="System.IO.IOException"/> or <see cref="UnauthorizedAccessException"/> is kept as
/// <see cref="Exception.InnerException"/>): callers handle "this file cannot be used" in one place, and the
/// message always names the file and the exact problem.
/// </remarks>
public sealed class InvalidModelFileException : Exception
{
    /// <summary>Creates the exception for <paramref name="filePath"/> with a description of what is wrong.</summary>
    public InvalidModelFileException(string filePath, string problem, Exception? innerException = null)
        : base($"Invalid model file '{filePath}': {problem}", innerException)
    {
        FilePath = filePath;
        Problem = problem;
    }

    /// <summary>Creates the exception without a known file (kept for serializers and the usual exception shape).</summary>
    public InvalidModelFileException()
        : this(string.Empty, "the model file is invalid")
    {
    }

    /// <summary>Creates the exception with a problem description but no known file.</summary>
    public InvalidModelFileException(string problem)
        : this(string.Empty, problem)
    {
    }

    /// <summary>Creates the exception with a problem description and its cause but no known file.</summary>
    public InvalidModelFileException(string problem, Exception innerException)
        : this(string.Empty, problem, innerException)
    {
    }

    /// <summary>The path of the offending file, as given by the caller.</summary>
    public string FilePath { get; }

    /// <summary>What is wrong with the file, without the path (for logs that already name it).</summary>
    public string Problem { get; }
}
