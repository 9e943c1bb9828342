namespace ModelRouter.Runtime.Generation;

/// <summary>A prompt does not fit the sequence's share of the context (with room for at least one new token).</summary>
public sealed class PromptTooLongException : Exception
{
    public PromptTooLongException(int promptTokens, int capacity)
        : base($"The prompt is {promptTokens} tokens but a sequence of this context holds at most {capacity} (prompt plus at least one generated token).")
    {
        PromptTokens = promptTokens;
        Capacity = capacity;
    }

    public PromptTooLongException()
    {
    }

    public PromptTooLongException(string message)
        : base(message)
    {
    }

    public PromptTooLongException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public int PromptTokens { get; }

    public int Capacity { get; }
}
