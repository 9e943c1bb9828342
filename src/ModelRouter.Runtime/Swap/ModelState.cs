namespace ModelRouter.Runtime.Swap;

/// <summary>Where a model's weights are.</summary>
public enum ModelTier
{
    /// <summary>Only the file on disk.</summary>
    Cold,

    /// <summary>A host-memory image ready to copy back (on CPU: the memory-mapped GGUF kept in RAM).</summary>
    Warm,

    /// <summary>Weights on the device, ready to decode.</summary>
    Resident,
}

/// <summary>The swap state machine of a pooled model. Every decode is gated on <see cref="Resident"/>.</summary>
public enum ModelState
{
    /// <summary>Not on the device (Cold or Warm tier).</summary>
    Evicted,

    /// <summary>Being brought onto the device.</summary>
    Restoring,

    /// <summary>On the device; leases may decode.</summary>
    Resident,

    /// <summary>Being taken off the device.</summary>
    Evicting,

    /// <summary>The last transition failed; the next acquire tries again from the tier it is in.</summary>
    Failed,
}
