using System.Runtime.InteropServices;

namespace ModelRouter.Runtime.Native;

/// <summary>
/// A SafeHandle that refuses new work as soon as its owner calls Dispose, even while other handles still hold a
/// reference (a context on its model): in-flight native calls finish, new ones get ObjectDisposedException, and the
/// native object is freed when the last reference goes.
/// </summary>
public abstract class OwnedSafeHandle : SafeHandle
{
    private volatile bool disposeRequested;

    protected OwnedSafeHandle()
        : base(0, ownsHandle: true)
    {
    }

    public override bool IsInvalid => handle == 0;

    /// <summary>True once the owner disposed it, whether or not the native object is freed yet.</summary>
    public bool IsDisposeRequested => disposeRequested;

    protected override void Dispose(bool disposing)
    {
        disposeRequested = true;
        base.Dispose(disposing);
    }
}
