using System.Globalization;

namespace ModelRouter.Cli.Simulation;

/// <summary>What one model costs on the simulated device; every figure carries where it came from.</summary>
public sealed record ModelCost
{
    public required string Model { get; init; }

    public required long WeightBytes { get; init; }

    /// <summary>Our restore (host tier → device), ms.</summary>
    public required double RestoreMs { get; init; }

    public required double EvictMs { get; init; }

    /// <summary>
    /// The part of <see cref="RestoreMs"/> spent creating the model's inference context once its weights are back, ms;
    /// 0 unless measured (validate-simulator, whose live swaps are timed without it).
    /// </summary>
    public double ContextMs { get; init; }

    /// <summary>llama.cpp's reload from the page cache (mmap load) beyond a resident model's first token, ms.</summary>
    public required double ReloadMs { get; init; }

    public required double PrefillTokensPerSecond { get; init; }

    /// <summary>Decode tokens per second of one sequence alone.</summary>
    public required double DecodeTokensPerSecond { get; init; }

    /// <summary>Field name → source ("bench-swap FILE", "profile FILE", "estimate: ...").</summary>
    public required IReadOnlyDictionary<string, string> Sources { get; init; }

    /// <summary>
    /// How much longer a decode step gets per extra sequence in the batch. 5% by default (a GPU decode is memory-bound:
    /// the weights are read once per step whatever the batch); a CPU measures far more (`modelrouter validate-simulator`).
    /// </summary>
    public double BatchSlowdownPerSequence { get; init; } = DefaultBatchSlowdown;

    public const double DefaultBatchSlowdown = 0.05;

    /// <summary>
    /// Time a prompt step costs whatever its length, ms (0 unless measured: `validate-simulator` fits it on this CPU,
    /// where a decode call has a fixed cost a GPU profile folds into its rate).
    /// </summary>
    public double PrefillFixedMs { get; init; }

    /// <summary>
    /// How the time per prompt token grows with the prompt's length (attention reads every earlier token), ms per token²;
    /// 0 unless measured (`validate-simulator` fits it from prompts of three lengths).
    /// </summary>
    public double PrefillMsPerTokenSquared { get; init; }

    public double PrefillMs(int tokens) =>
        tokens <= 0 ? 0 : PrefillFixedMs + tokens * 1000.0 / PrefillTokensPerSecond + PrefillMsPerTokenSquared * tokens * (double)tokens;

    public double DecodeStepMs(int sequences) => sequences <= 0 ? 0 : 1000.0 / DecodeTokensPerSecond * (1 + BatchSlowdownPerSequence * (sequences - 1));
}

/// <summary>
/// Costs of every model in a simulation: from bench-swap's CSV (this machine, measured), from a profile CSV (hardware
/// we cannot run: published or estimated figures, each row naming its source), or the built-in H100 estimate.
/// </summary>
public sealed class SwapProfile
{
    public const string ProfileHeader = "model,weights_gb,restore_ms,evict_ms,reload_ms,prefill_tok_s,decode_tok_s,source";

    public SwapProfile(string name, IReadOnlyList<ModelCost> models)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(models);
        if (models.Count == 0)
        {
            throw new ArgumentException("A swap profile needs at least one model.", nameof(models));
        }

        Name = name;
        Models = models;
    }

    public string Name { get; }

    /// <summary>
    /// Latency of a request outside the scheduler (door, hand-offs between threads, delivery of the first token), added
    /// to every simulated TTFT and end-to-end time; it holds no device time. Zero unless measured (validate-simulator).
    /// </summary>
    public double DispatchMs { get; init; }

    public IReadOnlyList<ModelCost> Models { get; }

    /// <summary>
    /// The built-in profile: an H100 PCIe Gen5 host with 8 models of 1-8B in fp16. Estimates, not measurements:
    /// restore at 50 GB/s (pinned host-to-device copy on PCIe Gen5 x16), llama.cpp reload from the page cache at
    /// 8 GB/s plus 400 ms of set-up, prefill 8000 tok/s and decode at 80% of HBM bandwidth (3.35 TB/s) over the weights.
    /// </summary>
    public static SwapProfile H100Estimate(int models = 8)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(models, 1);
        const string Source = "estimate: H100 PCIe Gen5 (50 GB/s restore, 8 GB/s + 400 ms reload, 3.35 TB/s HBM)";
        double[] sizesB = [1, 1.5, 3, 3, 7, 7, 8, 8];
        var costs = new List<ModelCost>();
        for (var i = 0; i < models; i++)
        {
            var parameters = sizesB[i % sizesB.Length];
            var bytes = (long)(parameters * 2e9);
            costs.Add(new ModelCost
            {
                Model = $"m{i}-{parameters.ToString(CultureInfo.InvariantCulture)}b",
                WeightBytes = bytes,
                RestoreMs = bytes / 50e9 * 1000,
                EvictMs = 1,
                ReloadMs = 400 + bytes / 8e9 * 1000,
                PrefillTokensPerSecond = 8000 * 8 / Math.Max(parameters, 1),
                DecodeTokensPerSecond = 3.35e12 * 0.8 / bytes,
                Sources = AllFrom(Source),
            });
        }

        return new SwapProfile("h100-estimate", costs);
    }

    /// <summary>Reads bench-swap's CSV (by its column names) or a profile CSV (<see cref="ProfileHeader"/>).</summary>
    /// <exception cref="FormatException">Neither layout, or a bad value (the message names the line).</exception>
    public static SwapProfile Load(string path)
    {
        var lines = File.ReadAllLines(path).Where(l => l.Trim().Length > 0 && !l.StartsWith('#')).ToList();
        if (lines.Count < 2)
        {
            throw new FormatException($"{path}: a swap profile needs a header line and at least one model line");
        }

        var header = Csv.Split(lines[0]);
        var column = header.Select((h, i) => (h.Trim(), i)).ToDictionary(p => p.Item1, p => p.i, StringComparer.OrdinalIgnoreCase);
        var name = Path.GetFileNameWithoutExtension(path);
        var models = new List<ModelCost>();
        var benchSwap = column.ContainsKey("restore ms") && column.ContainsKey("llama.cpp mmap→token ms");
        if (!benchSwap && !column.ContainsKey("restore_ms"))
        {
            throw new FormatException($"{path}: unknown layout; expected bench-swap's CSV or a profile with the header '{ProfileHeader}'");
        }

        for (var n = 1; n < lines.Count; n++)
        {
            var cells = Csv.Split(lines[n]);
            string Cell(string key) => column.TryGetValue(key, out var i) && i < cells.Count ? cells[i].Trim()
                : throw new FormatException($"{path} line {n + 1}: no '{key}' column");
            double Number(string key)
            {
                var text = Cell(key);
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= 0 && double.IsFinite(v)
                    ? v : throw new FormatException($"{path} line {n + 1}: '{key}' is '{text}', not a non-negative number");
            }

            if (benchSwap)
            {
                var source = $"bench-swap {Path.GetFileName(path)} (measured)";
                var resident = Number("resident→token ms");
                var decode = Number("decode tok/s before");
                var sources = AllFrom(source);
                sources[nameof(ModelCost.PrefillTokensPerSecond)] = "estimate: 10x the measured decode rate";
                models.Add(new ModelCost
                {
                    Model = Cell("model"),
                    WeightBytes = (long)(Number("weights MB") * 1e6),
                    RestoreMs = Number("restore ms"),
                    EvictMs = Number("evict ms"),
                    ReloadMs = Math.Max(0, Number("llama.cpp mmap→token ms") - resident),
                    PrefillTokensPerSecond = Math.Max(1, decode * 10),
                    DecodeTokensPerSecond = Math.Max(0.001, decode),
                    Sources = sources,
                });
            }
            else
            {
                var source = column.ContainsKey("source") ? Cell("source") : $"profile {Path.GetFileName(path)}";
                models.Add(new ModelCost
                {
                    Model = Cell("model"),
                    WeightBytes = (long)(Number("weights_gb") * 1e9),
                    RestoreMs = Number("restore_ms"),
                    EvictMs = Number("evict_ms"),
                    ReloadMs = Number("reload_ms"),
                    PrefillTokensPerSecond = Math.Max(1e-3, Number("prefill_tok_s")),
                    DecodeTokensPerSecond = Math.Max(1e-3, Number("decode_tok_s")),
                    Sources = AllFrom(source),
                });
            }
        }

        return new SwapProfile(name, models);
    }

    private static Dictionary<string, string> AllFrom(string source) => new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [nameof(ModelCost.WeightBytes)] = source,
        [nameof(ModelCost.RestoreMs)] = source,
        [nameof(ModelCost.EvictMs)] = source,
        [nameof(ModelCost.ReloadMs)] = source,
        [nameof(ModelCost.PrefillTokensPerSecond)] = source,
        [nameof(ModelCost.DecodeTokensPerSecond)] = source,
    };
}

/// <summary>Minimal CSV: commas, double quotes around a field that holds one ("" inside quotes is a quote).</summary>
internal static class Csv
{
    public static List<string> Split(string line)
    {
        var cells = new List<string>();
        var cell = new System.Text.StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"')
                {
                    cell.Append('"');
                    i++;
                }
                else if (c == '"')
                {
                    quoted = false;
                }
                else
                {
                    cell.Append(c);
                }
            }
            else if (c == '"')
            {
                quoted = true;
            }
            else if (c == ',')
            {
                cells.Add(cell.ToString());
                cell.Clear();
            }
            else
            {
                cell.Append(c);
            }
        }

        cells.Add(cell.ToString());
        return cells;
    }
}
