namespace ModelRouter.Runtime.Tests.Gguf;

/// <summary>Where the GGUF and forge tests find the repository, the pinned llama.cpp source and shared models.</summary>
internal static class GgufTestFiles
{
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>LLAMA_CPP_DIR when set, else the pinned checkout that build.sh unpacks.</summary>
    public static string LlamaCppDir =>
        Environment.GetEnvironmentVariable("LLAMA_CPP_DIR") is { Length: > 0 } dir ? dir : Path.Combine(RepoRoot, "native", "llama.cpp");

    /// <summary>../shared/models beside the checkout.</summary>
    public static string SharedModelsDir => Path.GetFullPath(Path.Combine(RepoRoot, "..", "shared", "models"));

    /// <summary>A vocabulary GGUF of the pinned llama.cpp source, or a skip naming how to get it.</summary>
    public static string RequireVocab(string fileName)
    {
        var path = Path.Combine(LlamaCppDir, "models", fileName);
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} is absent: run ./build.sh native to fetch the pinned llama.cpp source, or set LLAMA_CPP_DIR.");
        }

        return path;
    }

    /// <summary>Every ggml-vocab-*.gguf of the pinned source, or a skip.</summary>
    public static string[] RequireAllVocabs()
    {
        var dir = Path.Combine(LlamaCppDir, "models");
        var files = Directory.Exists(dir) ? Directory.GetFiles(dir, "ggml-vocab-*.gguf") : [];
        if (files.Length == 0)
        {
            Assert.Skip($"No ggml-vocab-*.gguf in {dir}: run ./build.sh native to fetch the pinned llama.cpp source, or set LLAMA_CPP_DIR.");
        }

        Array.Sort(files, StringComparer.Ordinal);
        return files;
    }

    /// <summary>A file of ../shared/models, or a skip saying it is absent.</summary>
    public static string RequireSharedModel(string fileName)
    {
        var path = Path.Combine(SharedModelsDir, fileName);
        if (!File.Exists(path))
        {
            Assert.Skip($"{path} is absent (../shared/models is not beside this checkout); this test needs it.");
        }

        return path;
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

        throw new InvalidOperationException($"No ModelRouter.Native.sln above {AppContext.BaseDirectory}.");
    }
}
