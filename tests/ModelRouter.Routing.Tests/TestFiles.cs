using ModelRouter.Routing.Embeddings;

namespace ModelRouter.Routing.Tests;

/// <summary>Paths the tests need, and skips that say how to get what is missing.</summary>
internal static class TestFiles
{
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string RoutingDataDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "routing-data"));

    public static string SharedModelsDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models"));

    /// <summary>A file of ../shared/routing-data, or a skip.</summary>
    public static string RequireRoutingData(string fileName)
    {
        var path = Path.Combine(RoutingDataDir, fileName);
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} is absent (../shared/routing-data is not beside this checkout); this test trains on it.");
        }

        return path;
    }

    /// <summary>A file of ../shared/models, or a skip.</summary>
    public static string RequireSharedModel(string fileName)
    {
        var path = Path.Combine(SharedModelsDir, fileName);
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} is absent (../shared/models is not beside this checkout); this test needs it.");
        }

        return path;
    }

    /// <summary>The build's GloVe table, or a skip.</summary>
    public static string RequireGlove()
    {
        var path = WordVectorFile.Locate(searchFrom: RepoRoot);
        if (path is null || !File.Exists(path))
        {
            Assert.Skip($"{Path.Combine(RepoRoot, WordVectorFile.DefaultRelativePath)} is absent: ./build.sh build fetches and converts it (build/glove-source.sh).");
        }

        return path!;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModelRouter.Native.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException("No ModelRouter.Native.sln above " + AppContext.BaseDirectory);
    }
}

/// <summary>A directory deleted at dispose.</summary>
internal sealed class TempDirectory : IDisposable
{
    public TempDirectory()
    {
        Path = Directory.CreateTempSubdirectory("mr-routing-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
