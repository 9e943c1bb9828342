namespace ModelRouter.Runtime.Forge;

/// <summary>
/// Finds the tokenizer GGUF a family is forged with by default: the vocabulary files that ship in the pinned
/// llama.cpp source's <c>models/</c> folder (<c>ggml-vocab-llama-bpe.gguf</c> for llama, the Llama 3 tokenizer;
/// <c>ggml-vocab-qwen2.gguf</c> for qwen2), so a forged model tokenizes like the family it imitates.
/// </summary>
public static class VocabLocator
{
    /// <summary>The file name of a family's default vocabulary.</summary>
    public static string DefaultFileName(ForgeArchitecture architecture) => architecture switch
    {
        ForgeArchitecture.Qwen2 => "ggml-vocab-qwen2.gguf",
        _ => "ggml-vocab-llama-bpe.gguf",
    };

    /// <summary>
    /// Where the default vocabulary is looked for, in order: <c>$LLAMA_CPP_DIR/models</c>, then
    /// <c>native/llama.cpp/models</c> under the application's folder, the current folder, and each of their parents.
    /// </summary>
    public static IReadOnlyList<string> CandidatePaths(ForgeArchitecture architecture)
    {
        var file = DefaultFileName(architecture);
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("LLAMA_CPP_DIR") is { Length: > 0 } llamaDir)
        {
            candidates.Add(Path.Combine(llamaDir, "models", file));
        }

        foreach (var root in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(root); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "native", "llama.cpp", "models", file);
                if (!candidates.Contains(candidate))
                {
                    candidates.Add(candidate);
                }
            }
        }

        return candidates;
    }

    /// <summary>The first existing default vocabulary, or null.</summary>
    public static string? FindDefault(ForgeArchitecture architecture) => CandidatePaths(architecture).FirstOrDefault(File.Exists);
}
