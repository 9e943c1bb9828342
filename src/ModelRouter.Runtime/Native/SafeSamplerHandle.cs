using ModelRouter.Interop;

namespace ModelRouter.Runtime.Native;

/// <summary>Owns a <c>llama_sampler*</c> chain (freeing the chain frees the samplers added to it).</summary>
public sealed unsafe class SafeSamplerHandle : OwnedSafeHandle
{
    internal SafeSamplerHandle(llama_sampler* sampler)
        => SetHandle((nint)sampler);

    internal llama_sampler* Pointer => (llama_sampler*)handle;

    protected override bool ReleaseHandle()
    {
        Llama.llama_sampler_free((llama_sampler*)handle);
        return true;
    }
}
