using System.Runtime.InteropServices;

namespace ModelRouter.Runtime.Native;

/// <summary>
/// Keeps a SafeHandle from being released while native code uses its pointer: the generated bindings take raw
/// pointers, so every native call on an owned object runs inside one of these (an interlocked add and release).
/// </summary>
internal readonly ref struct HandleLease
{
    private readonly SafeHandle handle;

    public HandleLease(OwnedSafeHandle handle)
    {
        ObjectDisposedException.ThrowIf(handle.IsDisposeRequested, handle);
        var added = false;
        handle.DangerousAddRef(ref added); // throws ObjectDisposedException once the handle is closed
        this.handle = handle;
    }

    public void Dispose() => handle.DangerousRelease();
}
