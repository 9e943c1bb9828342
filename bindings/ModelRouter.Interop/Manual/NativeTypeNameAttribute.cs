using System.Diagnostics;

namespace ModelRouter.Interop;

/// <summary>
/// Records the C spelling of a type where the C# type says less (int32_t, const char *, enum x, bool),
/// as ClangSharp does. Emitted by the bindings generator; [Conditional] keeps it out of release metadata.
/// </summary>
[AttributeUsage(
    AttributeTargets.Struct | AttributeTargets.Enum | AttributeTargets.Property | AttributeTargets.Field |
    AttributeTargets.Parameter | AttributeTargets.ReturnValue,
    AllowMultiple = false,
    Inherited = true)]
[Conditional("DEBUG")]
internal sealed partial class NativeTypeNameAttribute : Attribute
{
    public NativeTypeNameAttribute(string name)
    {
        Name = name;
    }

    public string Name { get; }
}
