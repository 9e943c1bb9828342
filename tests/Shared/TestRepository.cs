namespace ModelRouter.Tests.Shared;

/// <summary>
/// Where every test project finds the repository, the pinned llama.cpp source and the ../shared folder beside the
/// checkout; the skips say how to get what is missing. Linked into each test project by tests/Directory.Build.props.
/// </summary>
internal static class TestRepository
{
    public static string Root { get; } = FindRoot();

    /// <summary>LLAMA_CPP_DIR when set, else the pinned checkout that build.sh unpacks.</summary>
    public static string LlamaCppDir =>
        Environment.GetEnvironmentVariable("LLAMA_CPP_DIR") is { Length: > 0 } dir ? dir : Path.Combine(Root, "native", "llama.cpp");

    /// <summary>A folder of ../shared beside the checkout (models, routing-data); absent on machines without it.</summary>
    public static string SharedDir(string folder) => Path.GetFullPath(Path.Combine(Root, "..", "shared", folder));

    /// <summary>A file of ../shared/<paramref name="folder"/>, or a skip saying it is absent and what needs it.</summary>
    public static string RequireShared(string folder, string fileName, string need = "this test needs it")
    {
        var path = Path.Combine(SharedDir(folder), fileName);
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} is absent (../shared/{folder} is not beside this checkout); {need}.");
        }

        return path;
    }

    /// <summary>A file of the pinned llama.cpp source, or a skip naming how to get it.</summary>
    public static string RequireLlamaFile(string relativePath)
    {
        var path = Path.Combine(LlamaCppDir, relativePath);
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} is absent: run ./build.sh native to fetch the pinned llama.cpp source, or set LLAMA_CPP_DIR.");
        }

        return path;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModelRouter.Native.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No ModelRouter.Native.sln above {AppContext.BaseDirectory}.");
    }
}
