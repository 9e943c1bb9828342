using System.Globalization;
using System.Text;

namespace ModelRouter.Cli.Simulation;

/// <summary>One request of a trace: when it arrives, for which model, its sizes and who sent it.</summary>
public sealed record TraceRequest(TimeSpan Arrival, string Model, int PromptTokens, int OutputTokens, string User);

/// <summary>
/// Trace files. Ours: a header <c>arrival_ms,model,prompt_tokens,output_tokens,user</c> (model may name a task; the
/// rule maps it). Azure LLM inference traces: <c>TIMESTAMP,ContextTokens,GeneratedTokens</c>; they name no model, so
/// each request gets one by the rule: models in Zipf order of popularity, drawn by a hash of its line (deterministic).
/// </summary>
public static class TraceFile
{
    public const string Header = "arrival_ms,model,prompt_tokens,output_tokens,user";

    /// <exception cref="FormatException">Unknown layout or a bad line (the message names it).</exception>
    public static IReadOnlyList<TraceRequest> Load(string path, IReadOnlyList<string> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        using var reader = new StreamReader(path);
        return Parse(reader, path, models);
    }

    public static IReadOnlyList<TraceRequest> Parse(TextReader reader, string name, IReadOnlyList<string> models)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var header = reader.ReadLine() ?? throw new FormatException($"{name}: empty trace");
        var columns = Csv.Split(header).Select(c => c.Trim()).ToList();
        int Index(string column) => columns.FindIndex(c => c.Equals(column, StringComparison.OrdinalIgnoreCase));
        var azure = Index("TIMESTAMP") >= 0 && Index("ContextTokens") >= 0 && Index("GeneratedTokens") >= 0;
        if (!azure && (Index("arrival_ms") < 0 || Index("model") < 0 || Index("prompt_tokens") < 0 || Index("output_tokens") < 0))
        {
            throw new FormatException($"{name}: unknown trace layout; expected '{Header}' or Azure's 'TIMESTAMP,ContextTokens,GeneratedTokens'");
        }

        var requests = new List<TraceRequest>();
        DateTimeOffset? first = null;
        string? line;
        var number = 1;
        while ((line = reader.ReadLine()) is not null)
        {
            number++;
            if (line.Trim().Length == 0)
            {
                continue;
            }

            var cells = Csv.Split(line);
            string Cell(int i) => i >= 0 && i < cells.Count ? cells[i].Trim() : throw new FormatException($"{name} line {number}: too few columns");
            int Tokens(int i)
            {
                var text = Cell(i);
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0
                    ? v : throw new FormatException($"{name} line {number}: '{text}' is not a token count");
            }

            if (azure)
            {
                var stamp = Cell(Index("TIMESTAMP"));
                if (!DateTimeOffset.TryParse(stamp, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
                {
                    throw new FormatException($"{name} line {number}: '{stamp}' is not a timestamp");
                }

                first ??= at;
                var model = ZipfAssign(models, line);
                requests.Add(new TraceRequest(at - first.Value, model, Math.Max(1, Tokens(Index("ContextTokens"))),
                    Math.Max(1, Tokens(Index("GeneratedTokens"))), "azure"));
            }
            else
            {
                var arrival = Cell(Index("arrival_ms"));
                if (!double.TryParse(arrival, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) || ms < 0 || !double.IsFinite(ms))
                {
                    throw new FormatException($"{name} line {number}: arrival_ms '{arrival}' is not a non-negative number");
                }

                var model = Cell(Index("model"));
                if (!models.Contains(model))
                {
                    model = ZipfAssign(models, model); // a task name: mapped to a model by the same rule
                }

                var userIndex = Index("user");
                requests.Add(new TraceRequest(TimeSpan.FromMilliseconds(ms), model, Math.Max(1, Tokens(Index("prompt_tokens"))),
                    Math.Max(1, Tokens(Index("output_tokens"))), userIndex >= 0 ? Cell(userIndex) : "anonymous"));
            }
        }

        return requests.OrderBy(r => r.Arrival).ToList();
    }

    public static void Write(string path, IEnumerable<TraceRequest> requests)
    {
        ArgumentNullException.ThrowIfNull(requests);
        var text = new StringBuilder(Header).Append('\n');
        foreach (var r in requests)
        {
            text.Append(CultureInfo.InvariantCulture, $"{r.Arrival.TotalMilliseconds:0.###},{r.Model},{r.PromptTokens},{r.OutputTokens},{r.User}\n");
        }

        File.WriteAllText(path, text.ToString());
    }

    /// <summary>The model-assignment rule: the i-th model is chosen with weight 1/(i+1) (Zipf, s=1), by a stable hash of the key.</summary>
    public static string ZipfAssign(IReadOnlyList<string> models, string key)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(key);
        var hash = 2166136261u;
        foreach (var c in key)
        {
            hash = (hash ^ c) * 16777619u;
        }

        var total = Enumerable.Range(1, models.Count).Sum(i => 1.0 / i);
        var point = hash / (double)uint.MaxValue * total;
        for (var i = 0; i < models.Count; i++)
        {
            point -= 1.0 / (i + 1);
            if (point <= 0)
            {
                return models[i];
            }
        }

        return models[^1];
    }
}

/// <summary>Settings of a synthetic trace.</summary>
public sealed record SyntheticTraceOptions
{
    public int Requests { get; init; } = 2000;

    /// <summary>Mean arrivals per second.</summary>
    public double RatePerSecond { get; init; } = 4;

    /// <summary>Bursty arrivals: on/off periods (10 s each) at twice and a tenth of the rate; otherwise Poisson.</summary>
    public bool Bursty { get; init; }

    public int Users { get; init; } = 32;

    /// <summary>Zipf exponent of model popularity.</summary>
    public double ZipfExponent { get; init; } = 1.0;

    /// <summary>Chance that a user's next request goes to the same model as the last (a session sticks to a model).</summary>
    public double Stickiness { get; init; } = 0.8;

    /// <summary>Diurnal shift: popularity rotates by one model every this long (zero: no shift).</summary>
    public TimeSpan PopularityShift { get; init; } = TimeSpan.FromMinutes(5);

    public int Seed { get; init; } = 42;

    /// <summary>Prompt tokens, drawn log-uniformly between these bounds.</summary>
    public (int Min, int Max) PromptTokens { get; init; } = (245, 1097);

    /// <summary>Output tokens, drawn log-uniformly between these bounds.</summary>
    public (int Min, int Max) OutputTokens { get; init; } = (33, 181);
}

/// <summary>Synthetic traces: Poisson or bursty arrivals, Zipf model popularity, sticky sessions, diurnal popularity shift.</summary>
public static class SyntheticTrace
{
    public static IReadOnlyList<TraceRequest> Generate(IReadOnlyList<string> models, SyntheticTraceOptions options)
    {
        ArgumentNullException.ThrowIfNull(models);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfLessThan(models.Count, 1);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.RatePerSecond);
        var random = new Random(options.Seed);
        var weights = Enumerable.Range(0, models.Count).Select(i => 1 / Math.Pow(i + 1, options.ZipfExponent)).ToArray();
        var lastModel = new int[Math.Max(1, options.Users)];
        Array.Fill(lastModel, -1);
        var requests = new List<TraceRequest>(options.Requests);
        var t = 0.0;
        for (var n = 0; n < options.Requests; n++)
        {
            var rate = options.RatePerSecond;
            if (options.Bursty)
            {
                rate *= (int)(t / 10) % 2 == 0 ? 1.9 : 0.1;
            }

            t += -Math.Log(1 - random.NextDouble()) / rate;
            var user = random.Next(lastModel.Length);
            int model;
            if (lastModel[user] >= 0 && random.NextDouble() < options.Stickiness)
            {
                model = lastModel[user];
            }
            else
            {
                var shift = options.PopularityShift > TimeSpan.Zero ? (int)(t / options.PopularityShift.TotalSeconds) : 0;
                model = (Draw(random, weights) + shift) % models.Count;
            }

            lastModel[user] = model;
            var prompt = LogUniform(random, options.PromptTokens);
            var output = LogUniform(random, options.OutputTokens);
            requests.Add(new TraceRequest(TimeSpan.FromSeconds(t), models[model], prompt, output, $"u{user}"));
        }

        return requests;
    }

    private static int LogUniform(Random random, (int Min, int Max) range)
    {
        var (min, max) = (Math.Max(1, range.Min), Math.Max(1, Math.Max(range.Min, range.Max)));
        return (int)Math.Clamp(Math.Exp(Math.Log(min) + (random.NextDouble() * (Math.Log(max) - Math.Log(min)))), min, max);
    }

    private static int Draw(Random random, double[] weights)
    {
        var point = random.NextDouble() * weights.Sum();
        for (var i = 0; i < weights.Length; i++)
        {
            point -= weights[i];
            if (point <= 0)
            {
                return i;
            }
        }

        return weights.Length - 1;
    }
}
