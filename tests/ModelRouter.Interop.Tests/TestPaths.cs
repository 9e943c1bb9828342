using ModelRouter.Tests.Shared;

namespace ModelRouter.Interop.Tests;

/// <summary>Where the interop tests find the repository, the pinned llama.cpp source and the shared models.</summary>
internal static class TestPaths
{
    public static string RepoRoot => TestRepository.Root;

    public static string LlamaCppDir => TestRepository.LlamaCppDir;

    public static string SharedModelsDir => TestRepository.SharedDir("models");

    public static string RequireLlamaFile(string relativePath) => TestRepository.RequireLlamaFile(relativePath);

    public static string RequireSharedModel(string fileName) => TestRepository.RequireShared("models", fileName);
}
