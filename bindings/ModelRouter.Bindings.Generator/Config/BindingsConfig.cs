using System.Text.Json;
using System.Text.Json.Serialization;

namespace ModelRouter.Bindings.Generator.Config;

/// <summary>bindings/bindings.json: which headers to bind, into which classes and libraries.</summary>
internal sealed class BindingsConfig
{
    /// <summary>Free text for the humans reading the file.</summary>
    public string? Comment { get; set; }

    public string Namespace { get; set; } = "ModelRouter.Interop";

    /// <summary>Output file for types declared in headers that are not bound themselves (ggml-opt.h, ...).</summary>
    public string OtherTypesOutput { get; set; } = "OtherTypes.g.cs";

    /// <summary>C type names (typedef or tag) replaced by a C# type, e.g. "FILE": "void" so FILE* is void*.</summary>
    public Dictionary<string, string> Remap { get; set; } = [];

    public List<HeaderConfig> Headers { get; set; } = [];
}

internal sealed class HeaderConfig
{
    public string? Comment { get; set; }

    /// <summary>"llama" (relative to the llama.cpp checkout) or "shim" (relative to native/shim).</summary>
    public string Root { get; set; } = "llama";

    public string Path { get; set; } = string.Empty;

    /// <summary>Static partial class that holds this header's functions and constants.</summary>
    public string Class { get; set; } = string.Empty;

    /// <summary>Logical library name the runtime resolver maps to a file (llama, ggml-base, ggml, mr_shim).</summary>
    public string Library { get; set; } = string.Empty;

    /// <summary>Output file name inside the Generated folder.</summary>
    public string Output { get; set; } = string.Empty;

    /// <summary>Glob patterns (* and ?) of functions declared in this header to bind.</summary>
    public List<string> Functions { get; set; } = [];

    public List<string> ExcludeFunctions { get; set; } = [];

    /// <summary>Library name → function globs that live in another library than <see cref="Library"/>.</summary>
    public Dictionary<string, List<string>> LibraryOverrides { get; set; } = [];

    /// <summary>C name → C# name for functions or types declared in this header (entry points keep C names).</summary>
    public Dictionary<string, string> Rename { get; set; } = [];

    /// <summary>Globs of structs/unions/enums declared here to emit complete even when only used via pointer.</summary>
    public List<string> CompleteTypes { get; set; } = [];

    /// <summary>Globs of types never emitted complete: pointers to them become opaque, by-value use is an error.</summary>
    public List<string> ExcludeTypes { get; set; } = [];

    /// <summary>Object-like macros (exact names) emitted as C# constants of this header's class.</summary>
    public List<string> Constants { get; set; } = [];
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    ReadCommentHandling = JsonCommentHandling.Skip,
    AllowTrailingCommas = true,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(BindingsConfig))]
internal sealed partial class ConfigJsonContext : JsonSerializerContext;

internal static class ConfigLoader
{
    public static BindingsConfig Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new GeneratorException(ExitCodes.Input, $"config file not found: {path}");
        }

        BindingsConfig? config;
        try
        {
            using var stream = File.OpenRead(path);
            config = JsonSerializer.Deserialize(stream, ConfigJsonContext.Default.BindingsConfig);
        }
        catch (JsonException e)
        {
            throw new GeneratorException(ExitCodes.Input, $"{path}: {e.Message}");
        }

        if (config?.Headers is null || config.Headers.Count == 0 || config.Headers.Any(h => h is null) || config.Remap is null)
        {
            throw new GeneratorException(ExitCodes.Input, $"{path}: no headers configured");
        }

        Validate(path, config);
        return config;
    }

    private static void Validate(string path, BindingsConfig config)
    {
        var outputs = new HashSet<string>(StringComparer.Ordinal) { config.OtherTypesOutput };
        foreach (var header in config.Headers)
        {
            var where = $"{path}: header '{header.Path}'";
            if (header.Functions is null || header.ExcludeFunctions is null || header.LibraryOverrides is null || header.Rename is null
                || header.CompleteTypes is null || header.ExcludeTypes is null || header.Constants is null
                || header.LibraryOverrides.Values.Any(v => v is null))
            {
                throw new GeneratorException(ExitCodes.Input, $"{where}: lists and maps may be omitted but not null");
            }

            if (header.Root is not ("llama" or "shim"))
            {
                throw new GeneratorException(ExitCodes.Input, $"{where}: root must be \"llama\" or \"shim\", not \"{header.Root}\"");
            }

            if (header.Path.Length == 0 || header.Class.Length == 0 || header.Library.Length == 0 || header.Output.Length == 0)
            {
                throw new GeneratorException(ExitCodes.Input, $"{where}: path, class, library and output are required");
            }

            if (!header.Output.EndsWith(".g.cs", StringComparison.Ordinal) || header.Output.Contains('/', StringComparison.Ordinal))
            {
                throw new GeneratorException(ExitCodes.Input, $"{where}: output must be a plain file name ending in .g.cs");
            }

            if (!outputs.Add(header.Output))
            {
                throw new GeneratorException(ExitCodes.Input, $"{where}: output {header.Output} is used twice");
            }
        }
    }
}
