namespace ModelRouter.Runtime.Swap;

/// <summary>
/// A restore found the device out of memory although the pool's budget said the weights fit (another process, the
/// contexts' KV caches or fragmentation took it). The store has rolled back: nothing of the model stays mapped. The
/// pool answers by evicting another model by policy and retrying; only when nothing is left to evict does the
/// request fail, with a <see cref="ModelUnavailableException"/> that wraps this one.
/// </summary>
public sealed class DeviceMemoryExhaustedException : Exception
{
    public DeviceMemoryExhaustedException(string message)
        : base(message)
    {
    }

    public DeviceMemoryExhaustedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public DeviceMemoryExhaustedException()
        : this("The device is out of memory.")
    {
    }
}
