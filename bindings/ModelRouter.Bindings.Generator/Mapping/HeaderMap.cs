using ModelRouter.Bindings.Generator.Config;

namespace ModelRouter.Bindings.Generator.Mapping;

/// <summary>What the generator knows about the file a declaration sits in.</summary>
/// <param name="Header">The configured header, or null for an included-but-not-bound header.</param>
/// <param name="RelativePath">Path relative to the llama.cpp or shim root (null for system headers).</param>
internal sealed record HeaderInfo(HeaderConfig? Header, string? RelativePath);

/// <summary>Maps absolute file paths that clang reports to configured headers and root-relative paths.</summary>
internal sealed class HeaderMap
{
    private readonly Dictionary<string, HeaderInfo> _cache = new(StringComparer.Ordinal);
    private readonly string _llamaRoot;
    private readonly string _shimRoot;

    public HeaderMap(BindingsConfig config, string llamaRoot, string shimRoot)
    {
        _llamaRoot = Path.GetFullPath(llamaRoot);
        _shimRoot = Path.GetFullPath(shimRoot);
        foreach (var header in config.Headers)
        {
            var full = FullPath(header);
            _cache[full] = new HeaderInfo(header, header.Path.Replace('\\', '/'));
        }
    }

    public string FullPath(HeaderConfig header)
        => Path.GetFullPath(Path.Combine(header.Root == "shim" ? _shimRoot : _llamaRoot, header.Path));

    public HeaderInfo Resolve(string file)
    {
        if (file.Length == 0)
        {
            return new HeaderInfo(null, null);
        }

        var full = Path.GetFullPath(file);
        if (_cache.TryGetValue(full, out var info))
        {
            return info;
        }

        info = new HeaderInfo(null, Relative(full, _llamaRoot) ?? Relative(full, _shimRoot));
        _cache[full] = info;
        return info;
    }

    private static string? Relative(string full, string root)
    {
        var relative = Path.GetRelativePath(root, full);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative)
            ? null
            : relative.Replace('\\', '/');
    }
}
