namespace ModelRouter.Runtime.Generation;

/// <summary>
/// A structured-output request that cannot be honoured: a JSON schema llama.cpp's converter rejects, or a grammar it
/// cannot parse. A client's mistake, so an <see cref="ArgumentException"/>: doors answer it as a bad request (400).
/// </summary>
public sealed class StructuredOutputException : ArgumentException
{
    public StructuredOutputException()
    {
    }

    public StructuredOutputException(string message)
        : base(message)
    {
    }

    public StructuredOutputException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
