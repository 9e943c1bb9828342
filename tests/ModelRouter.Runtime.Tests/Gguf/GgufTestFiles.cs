using ModelRouter.Tests.Shared;

namespace ModelRouter.Runtime.Tests.Gguf;

/// <summary>Where the GGUF and forge tests find the repository, the pinned llama.cpp source and shared models.</summary>
internal static class GgufTestFiles
{
    public static string RepoRoot => TestRepository.Root;

    public static string LlamaCppDir => TestRepository.LlamaCppDir;

    public static string SharedModelsDir => TestRepository.SharedDir("models");

    /// <summary>A vocabulary GGUF of the pinned llama.cpp source, or a skip naming how to get it.</summary>
    public static string RequireVocab(string fileName) => TestRepository.RequireLlamaFile(Path.Combine("models", fileName));

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
    public static string RequireSharedModel(string fileName) => TestRepository.RequireShared("models", fileName);
}
