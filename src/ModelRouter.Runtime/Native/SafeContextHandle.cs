using ModelRouter.Interop;

namespace ModelRouter.Runtime.Native;

/// <summary>
/// Owns a <c>llama_context*</c> and holds a reference on its model's handle for as long as it lives, so disposing
/// the model before the context (or both from different threads) can never free weights a context still uses.
/// </summary>
public sealed unsafe class SafeContextHandle : OwnedSafeHandle
{
    private readonly SafeModelHandle model;

    internal SafeContextHandle(llama_context* context, SafeModelHandle model)
    {
        var added = false;
        model.DangerousAddRef(ref added);
        this.model = model;
        SetHandle((nint)context);
    }

    internal llama_context* Pointer => (llama_context*)handle;

    protected override bool ReleaseHandle()
    {
        Llama.llama_free((llama_context*)handle);
        model.DangerousRelease();
        return true;
    }
}
