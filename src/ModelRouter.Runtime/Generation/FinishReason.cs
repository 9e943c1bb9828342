namespace ModelRouter.Runtime.Generation;

/// <summary>Why a sequence stopped generating.</summary>
public enum FinishReason
{
    /// <summary>The model produced an end-of-generation token.</summary>
    EndOfGeneration,

    /// <summary>A stop string was produced (and withheld from the output).</summary>
    StopString,

    /// <summary>MaxTokens were generated.</summary>
    MaxTokens,

    /// <summary>The sequence's share of the context is full.</summary>
    ContextFull,

    /// <summary>The request's cancellation token fired.</summary>
    Cancelled,
}
