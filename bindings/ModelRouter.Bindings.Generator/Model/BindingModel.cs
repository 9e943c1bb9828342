namespace ModelRouter.Bindings.Generator.Model;

// The generator's intermediate form: everything the emitters need, already mapped to C#, with no libclang
// handles left in it. Keeping clang out of the emitters makes output a pure function of this model.

/// <summary>Where a declaration came from: decides the output file and the order inside it.</summary>
/// <param name="Output">Output file name (e.g. Llama.g.cs).</param>
/// <param name="Header">Header path relative to the llama.cpp or shim root.</param>
/// <param name="Offset">Byte offset of the declaration in that header.</param>
internal sealed record DeclarationSite(string Output, string Header, uint Offset);

internal sealed record ParameterModel(string Name, string CsType, string? NativeType);

internal sealed record FunctionModel(
    string EntryPoint,
    string Name,
    string Library,
    string ReturnType,
    string? ReturnNativeType,
    IReadOnlyList<ParameterModel> Parameters,
    string? ObsoleteMessage,
    DeclarationSite Site);

internal enum FieldKind
{
    /// <summary>A scalar, pointer, enum or struct value.</summary>
    Plain,

    /// <summary>A C# fixed buffer of a primitive element type.</summary>
    FixedBuffer,

    /// <summary>A nested [InlineArray] struct for arrays of pointers, enums or structs.</summary>
    InlineArray,

    /// <summary>A C11 anonymous struct/union member, emitted as a nested type and a field named Anonymous.</summary>
    AnonymousRecord,
}

/// <param name="Name">C# field name (C name, keyword-escaped).</param>
/// <param name="CsType">Field type; for fixed buffers the element type.</param>
/// <param name="NativeType">C spelling when it differs from <paramref name="CsType"/>.</param>
/// <param name="Length">Element count for fixed buffers and inline arrays.</param>
/// <param name="Offset">Byte offset clang computed for x86-64 Linux.</param>
/// <param name="Nested">The nested record of an anonymous member or a field of anonymous record type.</param>
internal sealed record FieldModel(
    string Name,
    string CsType,
    string? NativeType,
    FieldKind Kind,
    long Length,
    long Offset,
    RecordModel? Nested);

/// <summary>[InlineArray(Length)] struct holding Length elements of ElementType.</summary>
internal sealed record InlineArrayModel(string Name, string ElementType, long Length, long Size);

internal sealed class RecordModel
{
    public required string Name { get; init; }

    public bool IsUnion { get; init; }

    /// <summary>Only used through pointers: emitted as an empty struct.</summary>
    public bool IsOpaque { get; init; }

    public long Size { get; init; }

    public List<FieldModel> Fields { get; } = [];

    public List<RecordModel> NestedRecords { get; } = [];

    public List<InlineArrayModel> InlineArrays { get; } = [];

    public DeclarationSite? Site { get; init; }
}

internal sealed record EnumMemberModel(string Name, string Value);

internal sealed record EnumModel(string Name, string? UnderlyingType, IReadOnlyList<EnumMemberModel> Members, DeclarationSite Site);

/// <param name="Literal">C# literal text of the value.</param>
/// <param name="Definition">"#define NAME body" as written, for NativeTypeName.</param>
internal sealed record ConstantModel(string Name, string CsType, string Literal, string Definition, DeclarationSite Site);

/// <summary>One output file's header comment source and class name.</summary>
internal sealed record OutputFileModel(string FileName, string? ClassName, IReadOnlyList<string> Headers);

internal sealed class BindingModel
{
    public List<FunctionModel> Functions { get; } = [];

    public List<RecordModel> Records { get; } = [];

    public List<EnumModel> Enums { get; } = [];

    public List<ConstantModel> Constants { get; } = [];

    public List<OutputFileModel> Files { get; } = [];
}
