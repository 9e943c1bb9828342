namespace ModelRouter.Runtime.Inference;

/// <summary>llama.cpp failed to create a context or to decode; the message carries its own error text.</summary>
public sealed class InferenceException : Exception
{
    public InferenceException()
    {
    }

    public InferenceException(string message)
        : base(message)
    {
    }

    public InferenceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
