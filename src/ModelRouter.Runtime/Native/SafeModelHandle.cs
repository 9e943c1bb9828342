using ModelRouter.Interop;

namespace ModelRouter.Runtime.Native;

/// <summary>Owns a <c>llama_model*</c>. Contexts add a reference, so the model is freed only after its last context.</summary>
public sealed unsafe class SafeModelHandle : OwnedSafeHandle
{
    internal SafeModelHandle(llama_model* model)
        => SetHandle((nint)model);

    internal llama_model* Pointer => (llama_model*)handle;

    protected override bool ReleaseHandle()
    {
        Llama.llama_model_free((llama_model*)handle);
        return true;
    }
}
