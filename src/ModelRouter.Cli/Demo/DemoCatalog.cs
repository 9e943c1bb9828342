using System.Text.Json;
using ModelRouter.Runtime.Forge;
using ModelRouter.Server.Options;

namespace ModelRouter.Cli.Demo;

/// <summary>
/// The demo's catalog: four forged models of different shapes and sizes (random weights, real tokenizer; their text
/// is gibberish by design), each serving some task types, and a config file for the server.
/// </summary>
public static class DemoCatalog
{
    public sealed record Entry(string Name, ForgeArchitecture Architecture, int Layers, int Width, int Ffn, int Heads, int KvHeads, ForgeWeightType Type, string SizeClass, string Latency, double Cost, string[] Capabilities);

    public static readonly Entry[] Models =
    [
        new("chat-tiny", ForgeArchitecture.Llama, 2, 64, 256, 4, 2, ForgeWeightType.Q8_0, "tiny", "realtime", 0.0, ["classification", "chat"]),
        new("extract-small", ForgeArchitecture.Qwen2, 4, 128, 384, 4, 2, ForgeWeightType.Q4_0, "small", "realtime", 0.1, ["extraction", "summarization"]),
        new("code-medium", ForgeArchitecture.Llama, 6, 256, 768, 8, 4, ForgeWeightType.Q4_0, "medium", "interactive", 0.4, ["code"]),
        new("reason-large", ForgeArchitecture.Qwen2, 8, 384, 1024, 8, 4, ForgeWeightType.Q4_0, "large", "batch", 1.0, ["reasoning", "creative"]),
    ];

    /// <summary>Forges every model not yet present (same seed, same bytes) and returns their paths.</summary>
    public static IReadOnlyDictionary<string, string> Forge(string directory, TextWriter progress, CancellationToken cancellation) =>
        ForgeAll(Models, directory, "[demo]", "random-weight demo model", progress, cancellation);

    /// <summary>
    /// Forges each of <paramref name="models"/> not yet in <paramref name="directory"/> as NAME.gguf (same seed, same bytes),
    /// saying so on <paramref name="progress"/> after <paramref name="label"/>; returns every model's path by name.
    /// </summary>
    public static IReadOnlyDictionary<string, string> ForgeAll(IEnumerable<Entry> models, string directory, string label, string description,
        TextWriter progress, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(progress);
        Directory.CreateDirectory(directory);
        var paths = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var model in models)
        {
            var path = Path.Combine(directory, model.Name + ".gguf");
            paths[model.Name] = path;
            if (File.Exists(path))
            {
                continue;
            }

            progress.WriteLine($"{label} forging {model.Name} ({model.Architecture}, {model.Layers} layers, width {model.Width}, {model.Type}; random weights)");
            ForgeOne(model, path, description, cancellation);
        }

        return paths;
    }

    /// <summary>Forges one entry (seed 7, tied embeddings, the architecture's default vocabulary) into <paramref name="path"/>;
    /// <paramref name="description"/> goes into its name.</summary>
    /// <exception cref="FileNotFoundException">The vocabulary is missing (the pinned llama.cpp source was not fetched).</exception>
    public static void ForgeOne(Entry model, string path, string description, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(model);
        var shape = new ModelShape(model.Architecture, model.Layers, model.Width, model.Ffn, model.Heads, model.KvHeads, 2048) { TiedEmbeddings = true };
        var vocab = VocabLocator.FindDefault(model.Architecture)
            ?? throw new FileNotFoundException($"No {VocabLocator.DefaultFileName(model.Architecture)} found (looked in: {string.Join(", ", VocabLocator.CandidatePaths(model.Architecture))}); run ./build.sh native to fetch the pinned llama.cpp source.");
        var temporary = path + ".partial";
        ModelForge.Forge(new ForgeOptions(shape, model.Type) { VocabPath = vocab, Seed = 7, Name = $"{model.Name} ({description})" }, temporary, cancellationToken: cancellation);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>
    /// The demo's scheduler: four sequences of 256 cells per model (short demo prompts), short embedding inputs (the soak
    /// embeds its prompts), and quick batching. <see cref="DemoFootprints"/> measures the contexts these settings make.
    /// </summary>
    public static SchedulerSettings Scheduler() => new()
    {
        MaxBatchPerModel = 4,
        ContextPerSequence = 256,
        EmbeddingTokensPerInput = 128,
        EmbeddingInputsPerDecode = 4,
        MaxWaitMs = 1500,
        MinResidencyMs = 100,
    };

    /// <summary>
    /// A device budget that holds the two largest models' weights as the pool counts them once loaded (measured: loaded
    /// weights can exceed the file's tensors, e.g. a tied embedding loaded twice), plus half the smallest model's
    /// weights as a margin: never enough for a third model beside the two largest, and less than the whole catalog, so
    /// requests force swaps. Weights only, because that is what the pool admits a model by: the contexts a lease then
    /// creates are counted in its resident bytes but not yet made room for (docs/swap.md, "Known gaps"), so a budget
    /// that counted them would hold the whole catalog and the demo would never swap.
    /// </summary>
    public static long Budget(IReadOnlyList<DemoFootprint> footprints)
    {
        ArgumentNullException.ThrowIfNull(footprints);
        ArgumentOutOfRangeException.ThrowIfLessThan(footprints.Count, 3, nameof(footprints));
        var sizes = footprints.Select(f => f.WeightBytes).OrderDescending().ToList();
        return sizes[0] + sizes[1] + (sizes[^1] / 2);
    }

    /// <summary>
    /// Writes the server config: catalog, one route per task type, a budget that holds the two largest models
    /// (<see cref="Budget"/>).
    /// </summary>
    public static string WriteConfig(string directory, IReadOnlyDictionary<string, string> paths, IReadOnlyList<DemoFootprint> footprints)
    {
        ArgumentNullException.ThrowIfNull(paths);
        var budget = Budget(footprints);
        var scheduler = Scheduler();
        // A route is the policy's candidate set, not an ordered fallback list: adding the free tiny model to every
        // route would make it win every task, so the demo leaves the fallback to DefaultModel and swaps happen.
        var routes = Models.SelectMany(m => m.Capabilities.Select(c => (Task: c, m.Name)))
            .GroupBy(r => r.Task)
            .ToDictionary(g => g.Key, g => g.Select(r => r.Name).Distinct().ToArray());
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartObject("ModelRouter");
            json.WriteString("Tcp", "127.0.0.1:0");
            json.WriteString("Http", "http://127.0.0.1:0");
            json.WriteString("AuthToken", "demo");
            json.WriteString("AdminToken", "demo-admin");
            json.WriteNumber("DeviceBudgetBytes", budget);
            json.WriteString("DefaultModel", "chat-tiny");
            json.WriteStartArray("Models");
            foreach (var m in Models)
            {
                json.WriteStartObject();
                json.WriteString("Name", m.Name);
                json.WriteString("Path", paths[m.Name]);
                json.WriteStartArray("Capabilities");
                foreach (var c in m.Capabilities)
                {
                    json.WriteStringValue(c);
                }

                json.WriteEndArray();
                json.WriteString("SizeClass", m.SizeClass);
                json.WriteString("LatencyClass", m.Latency);
                json.WriteNumber("CostPer1kTokens", m.Cost);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("Routes");
            foreach (var (task, models) in routes)
            {
                json.WriteStartObject();
                json.WriteString("Task", task);
                json.WriteStartArray("Models");
                foreach (var name in models)
                {
                    json.WriteStringValue(name);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartObject("Scheduler");
            json.WriteNumber(nameof(SchedulerSettings.MaxBatchPerModel), scheduler.MaxBatchPerModel);
            json.WriteNumber(nameof(SchedulerSettings.ContextPerSequence), scheduler.ContextPerSequence);
            json.WriteNumber(nameof(SchedulerSettings.EmbeddingTokensPerInput), scheduler.EmbeddingTokensPerInput);
            json.WriteNumber(nameof(SchedulerSettings.EmbeddingInputsPerDecode), scheduler.EmbeddingInputsPerDecode);
            json.WriteNumber(nameof(SchedulerSettings.MaxWaitMs), scheduler.MaxWaitMs);
            json.WriteNumber(nameof(SchedulerSettings.MinResidencyMs), scheduler.MinResidencyMs);
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }

        var file = Path.Combine(directory, "modelrouter.demo.json");
        File.WriteAllBytes(file, buffer.ToArray());
        return file;
    }
}
