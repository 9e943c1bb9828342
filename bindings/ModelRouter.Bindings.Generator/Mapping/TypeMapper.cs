using ModelRouter.Bindings.Generator.Clang;

namespace ModelRouter.Bindings.Generator.Mapping;

/// <summary>Receives the records and enums a mapped type refers to, so they get emitted too.</summary>
internal interface ITypeRequirements
{
    /// <summary>Returns the C# name of the record; by-value use forces a complete definition.</summary>
    string RequireRecord(CXCursor declaration, bool byValue, string context);

    string RequireEnum(CXCursor declaration, string context);
}

/// <summary>C type → blittable C# type, following ClangSharp's conventions for x86-64 Linux.</summary>
internal sealed class TypeMapper
{
    // Fixed-width typedefs are resolved by name: int64_t is "long" on LP64, which would otherwise become nint.
    private static readonly Dictionary<string, string> s_standardTypedefs = new(StringComparer.Ordinal)
    {
        ["int8_t"] = "sbyte",
        ["uint8_t"] = "byte",
        ["int16_t"] = "short",
        ["uint16_t"] = "ushort",
        ["int32_t"] = "int",
        ["uint32_t"] = "uint",
        ["int64_t"] = "long",
        ["uint64_t"] = "ulong",
        ["size_t"] = "nuint",
        ["ssize_t"] = "nint",
        ["ptrdiff_t"] = "nint",
        ["intptr_t"] = "nint",
        ["uintptr_t"] = "nuint",
    };

    private static readonly HashSet<string> s_varargsTypedefs = new(StringComparer.Ordinal)
    {
        "va_list", "__gnuc_va_list", "__builtin_va_list",
    };

    private readonly ITypeRequirements _requirements;
    private readonly IReadOnlyDictionary<string, string> _remap;
    private readonly string _configName;

    public TypeMapper(ITypeRequirements requirements, IReadOnlyDictionary<string, string> remap, string configName)
    {
        _requirements = requirements;
        _remap = remap;
        _configName = configName;
    }

    /// <summary>Maps a parameter or return type (arrays decay to pointers).</summary>
    public (string CsType, string? NativeType) MapSignatureType(CXType type, string context)
    {
        var cs = Map(type, byValue: true, context);
        return (cs, Names.NativeTypeName(type.Spelling(), cs));
    }

    public string Map(CXType type, bool byValue, string context)
    {
        switch (type.kind)
        {
            case CXTypeKind.Attributed:
                return Map(LibClang.clang_Type_getModifiedType(type), byValue, context);
            case CXTypeKind.Elaborated:
                return Map(LibClang.clang_Type_getNamedType(type), byValue, context);
            case CXTypeKind.Typedef:
                return MapTypedef(type, byValue, context);
            case CXTypeKind.Record:
                {
                    var decl = type.Declaration();
                    if (_remap.TryGetValue(decl.Spelling(), out var remapped))
                    {
                        return remapped;
                    }

                    return _requirements.RequireRecord(decl, byValue, context);
                }

            case CXTypeKind.Enum:
                return _requirements.RequireEnum(type.Declaration(), context);
            case CXTypeKind.Pointer:
                return MapPointer(type, context);
            case CXTypeKind.ConstantArray:
            case CXTypeKind.IncompleteArray:
                // Only reached for parameters: C adjusts array parameters to pointers.
                return Map(LibClang.clang_getArrayElementType(type), byValue: false, context) + "*";
            case CXTypeKind.Unexposed:
                {
                    var canonical = LibClang.clang_getCanonicalType(type);
                    if (canonical.kind == CXTypeKind.Unexposed)
                    {
                        throw Unsupported(type, context);
                    }

                    return Map(canonical, byValue, context);
                }

            default:
                return Builtin(type, context);
        }
    }

    /// <summary>Strips typedef/elaborated/attributed sugar without losing it below the first array level.</summary>
    public static CXType Desugar(CXType type)
    {
        while (true)
        {
            switch (type.kind)
            {
                case CXTypeKind.Elaborated:
                    type = LibClang.clang_Type_getNamedType(type);
                    break;
                case CXTypeKind.Attributed:
                    type = LibClang.clang_Type_getModifiedType(type);
                    break;
                case CXTypeKind.Typedef:
                    type = LibClang.clang_getTypedefDeclUnderlyingType(type.Declaration());
                    break;
                default:
                    return type;
            }
        }
    }

    public static bool IsFixedBufferElement(string csType)
        => csType is "bool" or "byte" or "sbyte" or "short" or "ushort" or "int" or "uint" or "long" or "ulong" or "float" or "double" or "char";

    private string MapTypedef(CXType type, bool byValue, string context)
    {
        var name = type.Declaration().Spelling();
        if (_remap.TryGetValue(name, out var remapped))
        {
            return remapped;
        }

        if (s_varargsTypedefs.Contains(name))
        {
            throw new GeneratorException(ExitCodes.Input, $"{context} uses {name}, which cannot be bound; add the declaration to an exclude list in {_configName}");
        }

        if (s_standardTypedefs.TryGetValue(name, out var standard))
        {
            return standard;
        }

        return Map(LibClang.clang_getTypedefDeclUnderlyingType(type.Declaration()), byValue, context);
    }

    private string MapPointer(CXType type, string context)
    {
        var pointee = LibClang.clang_getPointeeType(type);
        var canonical = LibClang.clang_getCanonicalType(pointee);
        switch (canonical.kind)
        {
            case CXTypeKind.FunctionProto:
            case CXTypeKind.FunctionNoProto:
                return FunctionPointer(pointee, canonical, context);
            case CXTypeKind.ConstantArray:
            case CXTypeKind.IncompleteArray:
                // Pointer to a whole array (ggml_guid_t): C# has no such type; the element pointer has the
                // same address and the NativeTypeName keeps the C meaning.
                return Map(LibClang.clang_getArrayElementType(Desugar(pointee)), byValue: false, context) + "*";
            default:
                return Map(pointee, byValue: false, context) + "*";
        }
    }

    private string FunctionPointer(CXType sugared, CXType canonical, string context)
    {
        if (canonical.kind == CXTypeKind.FunctionProto && LibClang.clang_isFunctionTypeVariadic(canonical) != 0)
        {
            throw new GeneratorException(
                ExitCodes.Input,
                $"{context} is a pointer to a variadic function ({sugared.Spelling()}), which cannot be bound; add the declaration to an exclude list in {_configName}");
        }

        // clang_getResultType/clang_getArgType look through typedef sugar and keep it on the parts, so
        // int64_t parameters of a callback stay long rather than becoming nint.
        var parts = new List<string>();
        if (canonical.kind == CXTypeKind.FunctionProto)
        {
            var count = LibClang.clang_getNumArgTypes(sugared);
            for (uint i = 0; i < count; i++)
            {
                parts.Add(Map(LibClang.clang_getArgType(sugared, i), byValue: true, context));
            }
        }

        parts.Add(Map(LibClang.clang_getResultType(sugared), byValue: true, context));
        return $"delegate* unmanaged[Cdecl]<{string.Join(", ", parts)}>";
    }

    private string Builtin(CXType type, string context) => type.kind switch
    {
        CXTypeKind.Void => "void",
        CXTypeKind.Bool => "bool",
        CXTypeKind.Char_S or CXTypeKind.SChar => "sbyte",
        CXTypeKind.Char_U or CXTypeKind.UChar => "byte",
        CXTypeKind.Short => "short",
        CXTypeKind.UShort => "ushort",
        CXTypeKind.Int => "int",
        CXTypeKind.UInt => "uint",
        // LP64: long is pointer-sized, which is what ClangSharp maps it to on Unix.
        CXTypeKind.Long => "nint",
        CXTypeKind.ULong => "nuint",
        CXTypeKind.LongLong => "long",
        CXTypeKind.ULongLong => "ulong",
        CXTypeKind.Float => "float",
        CXTypeKind.Double => "double",
        CXTypeKind.Char16 => "char",
        _ => throw Unsupported(type, context),
    };

    private GeneratorException Unsupported(CXType type, string context)
        => new(ExitCodes.Input, $"{context} has type {type.Spelling()} ({type.kind}), which the generator cannot map to a blittable C# type; add the declaration to an exclude list in {_configName} or teach Mapping/TypeMapper.cs about it");
}
