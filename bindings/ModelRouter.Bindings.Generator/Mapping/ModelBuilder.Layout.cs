using ModelRouter.Bindings.Generator.Clang;
using ModelRouter.Bindings.Generator.Model;

namespace ModelRouter.Bindings.Generator.Mapping;

internal sealed partial class ModelBuilder
{
    /// <summary>
    /// Fields in C order with clang's offsets recorded for the layout tests only: the emitted struct relies on
    /// C#'s own sequential layout, so a mapping mistake shows up as a failing test rather than being papered
    /// over with FieldOffset.
    /// </summary>
    private RecordModel BuildRecord(CXCursor definition, string name, DeclarationSite? site, string topLevelName)
    {
        var type = definition.Type();
        var size = LibClang.clang_Type_getSizeOf(type);
        if (size < 0)
        {
            throw new GeneratorException(ExitCodes.Input, $"struct {name}: clang cannot compute its size (error {size})");
        }

        var model = new RecordModel
        {
            Name = name,
            IsUnion = definition.kind == CXCursorKind.UnionDecl,
            Size = size,
            Site = site,
        };

        var children = definition.Children();
        var anonymousCount = children.Count(IsAnonymousMember);
        var anonymousIndex = 0;
        foreach (var child in children)
        {
            if (child.kind == CXCursorKind.FieldDecl)
            {
                AddField(model, child, topLevelName);
            }
            else if (IsAnonymousMember(child))
            {
                anonymousIndex++;
                var fieldName = anonymousCount == 1 ? "Anonymous" : $"Anonymous{anonymousIndex}";
                var nestedName = $"_{fieldName}_e__{(child.kind == CXCursorKind.UnionDecl ? "Union" : "Struct")}";
                var nested = BuildRecord(child, nestedName, null, topLevelName);
                model.NestedRecords.Add(nested);
                model.Fields.Add(new FieldModel(fieldName, nestedName, null, FieldKind.AnonymousRecord, 0, AnonymousMemberOffset(type, child), nested));
            }
        }

        return model;
    }

    private static bool IsAnonymousMember(CXCursor cursor)
        => cursor.kind is CXCursorKind.StructDecl or CXCursorKind.UnionDecl && LibClang.clang_Cursor_isAnonymousRecordDecl(cursor) != 0;

    private void AddField(RecordModel model, CXCursor field, string topLevelName)
    {
        var cName = field.Spelling();
        var context = $"field {model.Name}.{cName}";
        if (LibClang.clang_Cursor_isBitField(field) != 0)
        {
            throw new GeneratorException(
                ExitCodes.Input,
                $"{context} is a bit-field, which has no portable C# layout; add \"{topLevelName}\" to excludeTypes in {_configName} (and exclude the functions that take it by value)");
        }

        if (cName == model.Name)
        {
            throw new GeneratorException(ExitCodes.Input, $"{context} has the name of its struct, which C# does not allow; add a rename for the struct in {_configName}");
        }

        var offsetBits = LibClang.clang_Cursor_getOffsetOfField(field);
        if (offsetBits < 0 || offsetBits % 8 != 0)
        {
            throw new GeneratorException(ExitCodes.Input, $"{context}: clang reports no byte offset (result {offsetBits})");
        }

        var offset = offsetBits / 8;
        var name = Names.Escape(cName);
        var type = field.Type();
        var bare = TypeMapper.Desugar(type);
        switch (bare.kind)
        {
            case CXTypeKind.ConstantArray:
                AddArrayField(model, name, type, bare, offset, context);
                return;
            case CXTypeKind.IncompleteArray:
                throw new GeneratorException(ExitCodes.Input, $"{context} is a flexible array member, which C# cannot express; exclude \"{topLevelName}\" in {_configName}");
            case CXTypeKind.Record when !TryRecordName(bare.Declaration(), out _):
                {
                    // struct { ... } adamw; → nested _adamw_e__Struct, as ClangSharp names it.
                    var decl = bare.Declaration();
                    var nestedName = $"_{cName}_e__{(decl.kind == CXCursorKind.UnionDecl ? "Union" : "Struct")}";
                    var nested = BuildRecord(decl, nestedName, null, topLevelName);
                    model.NestedRecords.Add(nested);
                    model.Fields.Add(new FieldModel(name, nestedName, null, FieldKind.Plain, 0, offset, nested));
                    return;
                }

            default:
                {
                    var cs = _mapper.Map(type, byValue: true, context);
                    model.Fields.Add(new FieldModel(name, cs, Names.NativeTypeName(type.Spelling(), cs), FieldKind.Plain, 0, offset, null));
                    return;
                }
        }
    }

    private void AddArrayField(RecordModel model, string name, CXType type, CXType array, long offset, string context)
    {
        // Multi-dimensional arrays are flattened: the layout is identical and C# has no nested fixed buffers.
        long length = 1;
        var element = array;
        while (TypeMapper.Desugar(element).kind == CXTypeKind.ConstantArray)
        {
            var bare = TypeMapper.Desugar(element);
            length *= LibClang.clang_getArraySize(bare);
            element = LibClang.clang_getArrayElementType(bare);
        }

        var elementCs = _mapper.Map(element, byValue: true, context);
        var native = Names.NativeTypeName(type.Spelling(), elementCs);
        if (TypeMapper.IsFixedBufferElement(elementCs))
        {
            model.Fields.Add(new FieldModel(name, elementCs, native, FieldKind.FixedBuffer, length, offset, null));
            return;
        }

        var bufferName = $"_{name.TrimStart('@')}_e__FixedBuffer";
        model.InlineArrays.Add(new InlineArrayModel(bufferName, elementCs, length, LibClang.clang_Type_getSizeOf(type)));
        model.Fields.Add(new FieldModel(name, bufferName, native, FieldKind.InlineArray, length, offset, null));
    }

    /// <summary>
    /// libclang does not visit the implicit field of a C11 anonymous member, so its offset is derived from
    /// the first named field inside it: offsetof(parent, inner) minus the inner field's own offset.
    /// </summary>
    private static long AnonymousMemberOffset(CXType parent, CXCursor anonymous)
    {
        var (innerName, innerOffset) = FirstNamedField(anonymous);
        var bits = LibClang.clang_Type_getOffsetOf(parent, innerName);
        if (bits < 0)
        {
            throw new GeneratorException(ExitCodes.Input, $"clang cannot compute the offset of {innerName} in {parent.Spelling()} (error {bits})");
        }

        return (bits / 8) - innerOffset;
    }

    private static (string Name, long Offset) FirstNamedField(CXCursor record)
    {
        foreach (var child in record.Children())
        {
            if (child.kind == CXCursorKind.FieldDecl && child.Spelling().Length > 0)
            {
                return (child.Spelling(), LibClang.clang_Cursor_getOffsetOfField(child) / 8);
            }

            if (IsAnonymousMember(child))
            {
                var (name, offset) = FirstNamedField(child);
                return (name, offset + AnonymousMemberOffset(record.Type(), child));
            }
        }

        throw new GeneratorException(ExitCodes.Input, $"anonymous member of {record.Type().Spelling()} has no named field");
    }
}
