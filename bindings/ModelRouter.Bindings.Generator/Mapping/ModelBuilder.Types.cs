using ModelRouter.Bindings.Generator.Clang;
using ModelRouter.Bindings.Generator.Config;
using ModelRouter.Bindings.Generator.Model;

namespace ModelRouter.Bindings.Generator.Mapping;

internal sealed partial class ModelBuilder
{
    private sealed class RecordRequirement
    {
        public required string Name { get; init; }

        public required string CName { get; init; }

        public required CXCursor Definition { get; init; }

        public required bool HasDefinition { get; init; }

        public required bool IsUnion { get; init; }

        public required bool Excluded { get; init; }

        public required DeclarationSite Site { get; init; }

        public bool Listed { get; set; }

        public bool ByValue { get; set; }

        public RecordModel? Model { get; set; }
    }

    public string RequireRecord(CXCursor declaration, bool byValue, string context)
    {
        var definition = LibClang.clang_getCursorDefinition(declaration);
        var hasDefinition = !definition.IsNull();
        var anchor = hasDefinition ? definition : LibClang.clang_getCanonicalCursor(declaration);
        if (!TryRecordName(anchor, out var cName))
        {
            throw new GeneratorException(ExitCodes.Input, $"{context} uses an unnamed struct or union at {Describe(anchor.Position())}, which has no C# name");
        }

        var position = hasDefinition ? anchor.Position() : OpaqueHome(cName, anchor.Position());
        var header = HeaderOf(position);
        var name = Rename(header, cName);
        if (!_recordsByName.TryGetValue(name, out var requirement))
        {
            var excluded = header is not null && Glob.MatchesAny(header.ExcludeTypes, cName);
            requirement = new RecordRequirement
            {
                Name = name,
                CName = cName,
                Definition = definition,
                HasDefinition = hasDefinition,
                IsUnion = anchor.kind == CXCursorKind.UnionDecl,
                Excluded = excluded,
                Site = Site(position, $"struct {cName} (used by {context})"),
                Listed = !excluded && header is not null && Glob.MatchesAny(header.CompleteTypes, cName),
            };
            _recordsByName.Add(name, requirement);
            _records.Add(requirement);
        }

        if (byValue && !requirement.ByValue)
        {
            if (requirement.Excluded)
            {
                throw new GeneratorException(ExitCodes.Input, $"{context} uses struct {cName} by value, but {_configName} excludes it (excludeTypes); exclude the user too");
            }

            if (!requirement.HasDefinition)
            {
                throw new GeneratorException(ExitCodes.Input, $"{context} uses struct {cName} by value, but the headers only declare it");
            }

            requirement.ByValue = true;
        }

        return name;
    }

    public string RequireEnum(CXCursor declaration, string context)
    {
        var definition = LibClang.clang_getCursorDefinition(declaration);
        if (definition.IsNull())
        {
            definition = declaration;
        }

        if (!TryRecordName(definition, out var cName))
        {
            throw new GeneratorException(ExitCodes.Input, $"{context} uses an unnamed enum at {Describe(definition.Position())}, which has no C# name");
        }

        var position = definition.Position();
        var header = HeaderOf(position);
        var name = Rename(header, cName);
        if (_enumsByName.ContainsKey(name))
        {
            return name;
        }

        if (header is not null && Glob.MatchesAny(header.ExcludeTypes, cName))
        {
            throw new GeneratorException(ExitCodes.Input, $"{context} uses enum {cName}, but {_configName} excludes it (excludeTypes)");
        }

        // C# enums cannot be nint/nuint; C long is 64-bit on the fixed LP64 target.
        var underlying = _mapper.Map(LibClang.clang_getEnumDeclIntegerType(definition), byValue: true, $"enum {cName}") switch
        {
            "nint" => "long",
            "nuint" => "ulong",
            var other => other,
        };
        var unsigned = underlying is "byte" or "ushort" or "uint" or "ulong" or "nuint";
        var members = new List<EnumMemberModel>();
        foreach (var child in definition.Children())
        {
            if (child.kind != CXCursorKind.EnumConstantDecl)
            {
                continue;
            }

            var value = unsigned
                ? LibClang.clang_getEnumConstantDeclUnsignedValue(child).ToString(System.Globalization.CultureInfo.InvariantCulture)
                : LibClang.clang_getEnumConstantDeclValue(child).ToString(System.Globalization.CultureInfo.InvariantCulture);
            members.Add(new EnumMemberModel(Names.Escape(child.Spelling()), value));
        }

        var model = new EnumModel(name, underlying == "int" ? null : underlying, members, Site(position, $"enum {cName} (used by {context})"));
        _enumsByName.Add(name, model);
        _model.Enums.Add(model);
        return name;
    }

    /// <summary>Types listed in completeTypes are emitted even when no bound function reaches them.</summary>
    private void AddListedTypes(HeaderConfig header)
    {
        var declared = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (_, cursor, position) in _index.Records.Concat(_index.Enums))
        {
            if (!IsIn(position, header) || !TryRecordName(cursor, out var cName))
            {
                continue;
            }

            declared.Add(cName);
            if (!Glob.MatchesAny(header.CompleteTypes, cName) || Glob.MatchesAny(header.ExcludeTypes, cName))
            {
                continue;
            }

            var context = $"completeTypes of {header.Path}";
            if (cursor.kind == CXCursorKind.EnumDecl)
            {
                RequireEnum(cursor, context);
            }
            else
            {
                RequireRecord(cursor, byValue: false, context);
            }
        }

        CheckNamed(header.CompleteTypes, declared, "type", header);
        CheckNamed(header.ExcludeTypes, declared, "excluded type", header);
    }

    /// <summary>Builds listed and by-value records until no new ones appear; the rest become opaque.</summary>
    private void CompleteRecords()
    {
        var progress = true;
        while (progress)
        {
            progress = false;
            for (var i = 0; i < _records.Count; i++)
            {
                var requirement = _records[i];
                if (requirement.Model is null && requirement.HasDefinition && (requirement.ByValue || requirement.Listed))
                {
                    requirement.Model = BuildRecord(requirement.Definition, requirement.Name, requirement.Site, requirement.Name);
                    progress = true;
                }
            }
        }

        foreach (var requirement in _records)
        {
            _model.Records.Add(requirement.Model ?? new RecordModel
            {
                Name = requirement.Name,
                IsOpaque = true,
                IsUnion = requirement.IsUnion,
                Site = requirement.Site,
            });
        }
    }

    /// <summary>
    /// Where an opaque struct is emitted: the first declaration or typedef mention in a bound header, so that
    /// ggml_backend_buffer_type lands beside ggml-backend.h's functions even though ggml-alloc.h declares
    /// it first; otherwise the first declaration anywhere.
    /// </summary>
    private SourcePosition OpaqueHome(string cName, SourcePosition first)
    {
        foreach (var (name, position) in _index.RecordMentions)
        {
            if (name == cName && HeaderOf(position) is not null)
            {
                return position;
            }
        }

        return first;
    }

    /// <summary>Tag name, or the typedef name of typedef struct { ... } name;.</summary>
    private bool TryRecordName(CXCursor declaration, out string name)
    {
        name = declaration.Spelling();
        if (!Names.IsAnonymousSpelling(name))
        {
            return true;
        }

        var position = declaration.Position();
        return _index.AnonymousTypedefNames.TryGetValue((position.File, position.Offset), out name!);
    }

    private string Describe(SourcePosition position)
        => $"{_headers.Resolve(position.File).RelativePath ?? Path.GetFileName(position.File)}:{position.Line}";
}
