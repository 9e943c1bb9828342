using System.Text;

namespace ModelRouter.Bindings.Generator.Output;

/// <summary>Compares or writes the generated files of one output folder; only *.g.cs files are managed.</summary>
internal static class OutputSync
{
    private static readonly UTF8Encoding s_utf8 = new(encoderShouldEmitUTF8Identifier: false);

    /// <summary>Lines describing every difference between the generated set and the folder; empty when equal.</summary>
    public static List<string> Compare(string folder, IReadOnlyDictionary<string, string> files)
    {
        var differences = new List<string>();
        foreach (var (name, content) in files)
        {
            var path = Path.Combine(folder, name);
            if (!File.Exists(path))
            {
                differences.Add($"missing: {Display(path)}");
            }
            else if (!File.ReadAllBytes(path).AsSpan().SequenceEqual(s_utf8.GetBytes(content)))
            {
                differences.Add($"differs: {Display(path)}");
            }
        }

        differences.AddRange(Stale(folder, files).Select(path => $"stale:   {Display(path)}"));
        return differences;
    }

    /// <summary>Writes changed files only (timestamps of unchanged files stay put) and deletes stale ones.</summary>
    public static (int Written, int Deleted) Write(string folder, IReadOnlyDictionary<string, string> files)
    {
        Directory.CreateDirectory(folder);
        var written = 0;
        foreach (var (name, content) in files)
        {
            var path = Path.Combine(folder, name);
            var bytes = s_utf8.GetBytes(content);
            if (File.Exists(path) && File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
            {
                continue;
            }

            File.WriteAllBytes(path, bytes);
            written++;
        }

        var deleted = 0;
        foreach (var path in Stale(folder, files))
        {
            File.Delete(path);
            deleted++;
        }

        return (written, deleted);
    }

    private static string Display(string path) => Path.GetRelativePath(Directory.GetCurrentDirectory(), path);

    private static IEnumerable<string> Stale(string folder, IReadOnlyDictionary<string, string> files)
        => Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder, "*.g.cs")
                .Where(path => !files.ContainsKey(Path.GetFileName(path)))
                .Order(StringComparer.Ordinal)
            : [];
}
