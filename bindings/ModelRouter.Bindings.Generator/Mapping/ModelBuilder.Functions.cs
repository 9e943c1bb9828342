using ModelRouter.Bindings.Generator.Clang;
using ModelRouter.Bindings.Generator.Config;
using ModelRouter.Bindings.Generator.Model;

namespace ModelRouter.Bindings.Generator.Mapping;

internal sealed partial class ModelBuilder
{
    private void AddFunctions(HeaderConfig header)
    {
        var declared = new HashSet<string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, cursor, position) in _index.Functions)
        {
            if (!IsIn(position, header))
            {
                continue;
            }

            declared.Add(name);
            if (!Glob.MatchesAny(header.Functions, name) || Glob.MatchesAny(header.ExcludeFunctions, name) || !seen.Add(name))
            {
                continue;
            }

            _model.Functions.Add(BuildFunction(header, name, cursor, position));
        }

        CheckNamed(header.Functions, declared, "function", header);
        CheckNamed(header.ExcludeFunctions, declared, "excluded function", header);
        CheckNamed(header.LibraryOverrides.Values.SelectMany(v => v), declared, "library override for function", header);
        CheckNamed(header.Rename.Keys, declared.Concat(_index.Records.Select(r => r.Name)).Concat(_index.Enums.Select(e => e.Name)).ToHashSet(StringComparer.Ordinal), "renamed declaration", header);
    }

    private FunctionModel BuildFunction(HeaderConfig header, string name, CXCursor cursor, SourcePosition position)
    {
        var context = $"function {name} ({header.Path}:{position.Line})";
        if (LibClang.clang_Cursor_isVariadic(cursor) != 0)
        {
            throw new GeneratorException(
                ExitCodes.Input,
                $"{context} is variadic, which cannot be bound; add \"{name}\" to excludeFunctions of {header.Path} in {_configName}");
        }

        var (returnType, returnNative) = _mapper.MapSignatureType(LibClang.clang_getCursorResultType(cursor), context + " return type");
        var parameters = new List<ParameterModel>();
        var count = LibClang.clang_Cursor_getNumArguments(cursor);
        for (uint i = 0; i < count; i++)
        {
            var argument = LibClang.clang_Cursor_getArgument(cursor, i);
            var argumentName = argument.Spelling();
            if (argumentName.Length == 0)
            {
                argumentName = $"param{i}";
            }

            var (csType, native) = _mapper.MapSignatureType(argument.Type(), $"{context} parameter {argumentName}");
            parameters.Add(new ParameterModel(Names.Escape(argumentName), csType, native));
        }

        return new FunctionModel(
            name,
            Names.Escape(Rename(header, name)),
            LibraryFor(header, name),
            returnType,
            returnNative,
            parameters,
            ObsoleteMessage(cursor),
            Site(position, context));
    }

    private static string LibraryFor(HeaderConfig header, string name)
    {
        var matches = header.LibraryOverrides
            .Where(kv => Glob.MatchesAny(kv.Value, name))
            .Select(kv => kv.Key)
            .Order(StringComparer.Ordinal)
            .ToList();
        return matches.Count switch
        {
            0 => header.Library,
            1 => matches[0],
            _ => throw new GeneratorException(
                ExitCodes.Input,
                $"function {name} matches library overrides of several libraries ({string.Join(", ", matches)}) in {header.Path}; make the patterns disjoint"),
        };
    }

    /// <summary>Deprecated C functions stay bound but carry [Obsolete] with the header's own hint.</summary>
    private static unsafe string? ObsoleteMessage(CXCursor cursor)
    {
        if (LibClang.clang_getCursorAvailability(cursor) != CXAvailabilityKind.Deprecated)
        {
            return null;
        }

        int alwaysDeprecated, alwaysUnavailable;
        CXString deprecated, unavailable;
        // Returns the number of platform entries, irrelevant here: only the generic message is used.
        _ = LibClang.clang_getCursorPlatformAvailability(cursor, &alwaysDeprecated, &deprecated, &alwaysUnavailable, &unavailable, null, 0);
        ClangExtensions.ToManaged(unavailable);
        return ClangExtensions.ToManaged(deprecated);
    }
}
