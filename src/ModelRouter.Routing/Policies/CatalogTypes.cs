namespace ModelRouter.Routing.Policies;

/// <summary>Parameter-count class of a model, smallest first.</summary>
public enum SizeClass
{
    /// <summary>Under 1B parameters.</summary>
    Tiny,

    /// <summary>1-3B.</summary>
    Small,

    /// <summary>3-7B.</summary>
    Medium,

    /// <summary>7-14B.</summary>
    Large,

    /// <summary>14-32B.</summary>
    XLarge,

    /// <summary>Over 32B.</summary>
    Huge,
}

/// <summary>How soon a request needs its first token.</summary>
public enum LatencyClass
{
    /// <summary>A person is waiting on each keystroke (voice, autocomplete).</summary>
    RealTime,

    /// <summary>A person is waiting (chat).</summary>
    Interactive,

    /// <summary>Nobody is waiting (offline jobs).</summary>
    Batch,
}
