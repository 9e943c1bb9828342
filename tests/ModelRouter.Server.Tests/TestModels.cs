using ModelRouter.Tests.Shared;

namespace ModelRouter.Server.Tests;

/// <summary>Copies of ../shared/models/stories260K.gguf under distinct names: several "models" with known output.</summary>
internal sealed class TestModels : IDisposable
{
    private readonly string directory;

    private TestModels(string directory, IReadOnlyList<string> paths)
    {
        this.directory = directory;
        Paths = paths;
    }

    public IReadOnlyList<string> Paths { get; }

    public const string Prompt = "Once upon a time";

    /// <summary>Why the shared model cannot be used (a skip reason), or null when it is there.</summary>
    public static string? MissingReason()
    {
        var source = Path.GetFullPath(Path.Combine(TestRepository.Root, "..", "shared", "models", "stories260K.gguf"));
        return File.Exists(source) ? null : $"{source} is absent (../shared/models is not beside this checkout); this test needs it.";
    }

    public static TestModels Create(int count)
    {
        var source = Path.GetFullPath(Path.Combine(TestRepository.Root, "..", "shared", "models", "stories260K.gguf"));
        if (MissingReason() is { } missing)
        {
            Assert.Skip(missing);
        }

        var dir = Directory.CreateTempSubdirectory("mr-server-models-").FullName;
        var paths = Enumerable.Range(0, count).Select(i =>
        {
            var path = Path.Combine(dir, $"m{i}.gguf");
            File.Copy(source, path);
            return path;
        }).ToList();
        return new TestModels(dir, paths);
    }

    /// <summary>The greedy continuation the shared README states for <see cref="Prompt"/> (first 60 tokens).</summary>
    public static string Reference(int tokens)
    {
        var path = Path.GetFullPath(Path.Combine(TestRepository.Root, "..", "shared", "models", "README.md"));
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} is absent (../shared/models is not beside this checkout); this test needs it.");
        }

        var readme = File.ReadAllText(path);
        var start = readme.IndexOf("continues with exactly:", StringComparison.Ordinal);
        var open = readme.IndexOf('`', start) + 1;
        var text = readme[open..readme.IndexOf('`', open)].Replace("\\n", "\n", StringComparison.Ordinal);
        return tokens == 60 ? text : throw new ArgumentOutOfRangeException(nameof(tokens), "the README states 60 tokens");
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
