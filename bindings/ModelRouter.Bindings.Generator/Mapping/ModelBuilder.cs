using ModelRouter.Bindings.Generator.Clang;
using ModelRouter.Bindings.Generator.Config;
using ModelRouter.Bindings.Generator.Model;

namespace ModelRouter.Bindings.Generator.Mapping;

/// <summary>
/// Turns the parsed translation unit into a <see cref="BindingModel"/>: selects functions and constants per
/// header, then pulls in every record and enum they reach. Records used by value (or listed as complete)
/// are emitted with their fields; records only reached through pointers become opaque structs.
/// </summary>
internal sealed partial class ModelBuilder : ITypeRequirements
{
    private readonly BindingsConfig _config;
    private readonly HeaderMap _headers;
    private readonly TranslationUnit _tu;
    private readonly DeclarationIndex _index;
    private readonly TypeMapper _mapper;
    private readonly BindingModel _model = new();

    // Insertion-ordered so output never depends on hash order.
    private readonly List<RecordRequirement> _records = [];
    private readonly Dictionary<string, RecordRequirement> _recordsByName = new(StringComparer.Ordinal);
    private readonly Dictionary<string, EnumModel> _enumsByName = new(StringComparer.Ordinal);
    private readonly List<string> _missingNames = [];
    private readonly string _configName;

    /// <param name="configName">How error messages name the config file (the path as given).</param>
    public ModelBuilder(BindingsConfig config, string configName, HeaderMap headers, TranslationUnit tu)
    {
        _config = config;
        _configName = configName;
        _headers = headers;
        _tu = tu;
        _index = DeclarationIndex.Build(tu.Cursor);
        _mapper = new TypeMapper(this, config.Remap, configName);
    }

    public BindingModel Build()
    {
        foreach (var header in _config.Headers)
        {
            AddFunctions(header);
            AddConstants(header);
            AddListedTypes(header);
        }

        CompleteRecords();
        if (_missingNames.Count > 0)
        {
            throw new GeneratorException(
                ExitCodes.Input,
                $"{_configName} names declarations the headers do not have (update it):\n  " + string.Join("\n  ", _missingNames));
        }

        AddFiles();
        return _model;
    }

    private void AddFiles()
    {
        foreach (var header in _config.Headers)
        {
            _model.Files.Add(new OutputFileModel(header.Output, header.Class, [header.Path]));
        }

        var otherHeaders = _model.Records.Select(r => r.Site!).Concat(_model.Enums.Select(e => e.Site))
            .Where(s => s.Output == _config.OtherTypesOutput)
            .Select(s => s.Header)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        if (otherHeaders.Count > 0)
        {
            _model.Files.Add(new OutputFileModel(_config.OtherTypesOutput, null, otherHeaders));
        }
    }

    /// <summary>Output file and root-relative header of a declaration; system headers are refused.</summary>
    private DeclarationSite Site(SourcePosition position, string what)
    {
        var info = _headers.Resolve(position.File);
        if (info.RelativePath is null)
        {
            throw new GeneratorException(
                ExitCodes.Input,
                $"{what} is declared in a system header ({Path.GetFileName(position.File)}); add it to \"remap\" in {_configName} (for example \"FILE\": \"void\")");
        }

        return new DeclarationSite(info.Header?.Output ?? _config.OtherTypesOutput, info.RelativePath, position.Offset);
    }

    private HeaderConfig? HeaderOf(SourcePosition position) => _headers.Resolve(position.File).Header;

    private bool IsIn(SourcePosition position, HeaderConfig header)
        => ReferenceEquals(HeaderOf(position), header);

    private static string Rename(HeaderConfig? header, string name)
        => header is not null && header.Rename.TryGetValue(name, out var renamed) ? renamed : name;

    /// <summary>Exact (non-glob) names must exist; a glob that matches nothing is only suspicious.</summary>
    private void CheckNamed(IEnumerable<string> patterns, HashSet<string> present, string what, HeaderConfig header)
    {
        foreach (var pattern in patterns)
        {
            if (Glob.IsPattern(pattern))
            {
                if (!present.Any(name => Glob.Matches(pattern, name)))
                {
                    Console.Error.WriteLine($"warning: {what} pattern '{pattern}' matches nothing in {header.Path}");
                }
            }
            else if (!present.Contains(pattern))
            {
                _missingNames.Add($"{what} '{pattern}' not found in {header.Path}");
            }
        }
    }
}
