namespace ModelRouter.Routing.Training;

/// <summary>
/// Where <c>train-router</c> finds its default inputs when no <c>--data</c> is given: the shared routing data beside the
/// repository (<c>../shared/routing-data/train.jsonl</c>) plus every <c>*.jsonl</c> in the repository's
/// <c>data/routing/</c>. The repository root is the first directory, walking up from the current directory and then
/// from the application's own directory, that holds <c>data/routing/</c>; so it works from the repository root, from a
/// subdirectory, from <c>./build.sh</c>, and from the built app under <c>src/ModelRouter.Cli/bin/...</c> of a fresh
/// clone. <c>MODELROUTER_ROUTING_DATA</c> names the shared train.jsonl explicitly. Rows that quote llama.cpp's source
/// (pasted code) are not kept in the repository: <c>./build.sh</c> writes them from the fetched llama.cpp tree into
/// <c>artifacts/routing-data/</c>, whose <c>*.jsonl</c> follow when present.
/// </summary>
public static class DefaultTrainingData
{
    /// <summary>The repository folder of the rows built by scripts/routing-data/build_rows.py.</summary>
    public const string RepositoryFolder = "data/routing";

    /// <summary>Rows the build generates (scripts/routing-data/build_rows.py --llama), under the repository root.</summary>
    public const string GeneratedFolder = "artifacts/routing-data";

    public const string SharedRelativePath = "../shared/routing-data/train.jsonl";

    /// <summary>The repository root (the folder holding data/routing), or null.</summary>
    public static string? FindRepositoryRoot(string? startDirectory = null)
    {
        foreach (var start in new[] { startDirectory ?? Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (Directory.Exists(Path.Combine(dir.FullName, RepositoryFolder)))
                {
                    return dir.FullName;
                }
            }
        }

        return null;
    }

    /// <summary>
    /// The default input files: shared train.jsonl first, then data/routing/*.jsonl, then the build's
    /// artifacts/routing-data/*.jsonl when that folder exists, each folder in ordinal order.
    /// </summary>
    /// <exception cref="TrainingDataException">No repository root or no shared train.jsonl (the message says where it looked).</exception>
    public static IReadOnlyList<string> Locate(string? startDirectory = null)
    {
        var root = FindRepositoryRoot(startDirectory)
            ?? throw new TrainingDataException($"no --data given and no {RepositoryFolder}/ folder found above {startDirectory ?? Directory.GetCurrentDirectory()} or {AppContext.BaseDirectory}; run from the repository or pass --data FILE.jsonl.");
        var shared = Environment.GetEnvironmentVariable("MODELROUTER_ROUTING_DATA") is { Length: > 0 } env
            ? env
            : Path.GetFullPath(Path.Combine(root, SharedRelativePath));
        if (!File.Exists(shared))
        {
            throw new TrainingDataException($"no --data given and the shared training data {shared} does not exist (set MODELROUTER_ROUTING_DATA or pass --data FILE.jsonl).");
        }

        var rows = Directory.GetFiles(Path.Combine(root, RepositoryFolder), "*.jsonl").Order(StringComparer.Ordinal);
        var generatedFolder = Path.Combine(root, GeneratedFolder);
        var generated = Directory.Exists(generatedFolder)
            ? Directory.GetFiles(generatedFolder, "*.jsonl").Order(StringComparer.Ordinal)
            : Enumerable.Empty<string>();
        return [shared, .. rows, .. generated];
    }
}
