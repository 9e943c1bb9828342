using ModelRouter.Bindings.Generator.Clang;

namespace ModelRouter.Bindings.Generator.Mapping;

/// <summary>The top-level declarations of the translation unit, grouped by kind and name, in source order.</summary>
internal sealed class DeclarationIndex
{
    public List<(string Name, CXCursor Cursor, SourcePosition Position)> Functions { get; } = [];

    public List<(string Name, CXCursor Cursor, SourcePosition Position)> Records { get; } = [];

    public List<(string Name, CXCursor Cursor, SourcePosition Position)> Enums { get; } = [];

    public List<(string Name, CXCursor Cursor, SourcePosition Position)> Macros { get; } = [];

    /// <summary>Struct declarations and typedefs naming a struct (typedef struct x * x_t;), in source order.</summary>
    public List<(string Name, SourcePosition Position)> RecordMentions { get; } = [];

    public Dictionary<string, CXCursor> ConstantVariables { get; } = new(StringComparer.Ordinal);

    /// <summary>typedef struct { ... } name; → the typedef name, keyed by the record's position.</summary>
    public Dictionary<(string File, uint Offset), string> AnonymousTypedefNames { get; } = [];

    public static DeclarationIndex Build(CXCursor translationUnit)
    {
        var index = new DeclarationIndex();
        foreach (var cursor in translationUnit.Children())
        {
            switch (cursor.kind)
            {
                case CXCursorKind.FunctionDecl:
                    index.Functions.Add((cursor.Spelling(), cursor, cursor.Position()));
                    break;
                case CXCursorKind.StructDecl:
                case CXCursorKind.UnionDecl:
                    index.Records.Add((cursor.Spelling(), cursor, cursor.Position()));
                    index.RecordMentions.Add((cursor.Spelling(), cursor.Position()));
                    break;
                case CXCursorKind.EnumDecl:
                    index.Enums.Add((cursor.Spelling(), cursor, cursor.Position()));
                    break;
                case CXCursorKind.MacroDefinition:
                    if (LibClang.clang_Cursor_isMacroFunctionLike(cursor) == 0)
                    {
                        index.Macros.Add((cursor.Spelling(), cursor, cursor.Position()));
                    }

                    break;
                case CXCursorKind.VarDecl:
                    {
                        var name = cursor.Spelling();
                        if (name.StartsWith(TranslationUnit.ConstantPrefix, StringComparison.Ordinal))
                        {
                            index.ConstantVariables[name[TranslationUnit.ConstantPrefix.Length..]] = cursor;
                        }

                        break;
                    }

                case CXCursorKind.TypedefDecl:
                    index.NoteTypedef(cursor);
                    break;
            }
        }

        return index;
    }

    private void NoteTypedef(CXCursor typedef)
    {
        var underlying = LibClang.clang_getTypedefDeclUnderlyingType(typedef);
        if (underlying.kind == CXTypeKind.Elaborated)
        {
            underlying = LibClang.clang_Type_getNamedType(underlying);
        }

        // typedef struct x * x_t; mentions struct x without redeclaring it when x is already known; the
        // mention still says which header x belongs with (see ModelBuilder.OpaqueHome).
        var target = underlying.kind == CXTypeKind.Pointer ? LibClang.clang_getPointeeType(underlying) : underlying;
        if (target.kind == CXTypeKind.Elaborated)
        {
            target = LibClang.clang_Type_getNamedType(target);
        }

        if (target.kind == CXTypeKind.Record)
        {
            RecordMentions.Add((target.Declaration().Spelling(), typedef.Position()));
        }

        if (underlying.kind is not (CXTypeKind.Record or CXTypeKind.Enum))
        {
            return;
        }

        var decl = underlying.Declaration();
        if (Names.IsAnonymousSpelling(decl.Spelling()) || decl.Spelling() == typedef.Spelling())
        {
            var declPosition = decl.Position();
            AnonymousTypedefNames.TryAdd((declPosition.File, declPosition.Offset), typedef.Spelling());
        }
    }
}
