using System.Globalization;
using System.Text.Json;

namespace ModelRouter.Cli.Benchmarks;

/// <summary>
/// Reads llama-bench's `-o json` output: an array of test objects with its fields (n_prompt, n_gen, n_threads,
/// avg_ts, stddev_ts, samples_ts, ...). Numbers may come as JSON numbers or strings; missing optional fields are
/// left at their defaults, missing essential ones are an error that says which.
/// </summary>
public static class LlamaBenchJson
{
    /// <exception cref="FormatException">The text is not llama-bench JSON (the message says what is wrong).</exception>
    public static IReadOnlyList<LlamaBenchResult> Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException ex)
        {
            throw new FormatException("llama-bench's output is not valid JSON: " + ex.Message, ex);
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException($"llama-bench's JSON should be an array of tests, not {document.RootElement.ValueKind}.");
            }

            var results = new List<LlamaBenchResult>();
            var index = 0;
            foreach (var test in document.RootElement.EnumerateArray())
            {
                results.Add(ReadTest(test, index++));
            }

            return results;
        }
    }

    private static LlamaBenchResult ReadTest(JsonElement test, int index)
    {
        if (test.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"llama-bench test #{index} is {test.ValueKind}, not an object.");
        }

        var mean = RequiredNumber(test, "avg_ts", index);
        var sd = Number(test, "stddev_ts") ?? 0;
        var samples = test.TryGetProperty("samples_ts", out var s) && s.ValueKind == JsonValueKind.Array
            ? s.EnumerateArray().Select(e => ToDouble(e) ?? double.NaN).Where(double.IsFinite).ToArray()
            : [];
        return new LlamaBenchResult
        {
            ModelFile = Text(test, "model_filename"),
            Backends = Text(test, "backends"),
            BuildCommit = Text(test, "build_commit"),
            CpuInfo = Text(test, "cpu_info"),
            Threads = (int)(Number(test, "n_threads") ?? 0),
            BatchSize = (int)(Number(test, "n_batch") ?? 0),
            MicroBatchSize = (int)(Number(test, "n_ubatch") ?? 0),
            GpuLayers = (int)(Number(test, "n_gpu_layers") ?? 0),
            FlashAttention = Text(test, "flash_attn"),
            PromptTokens = (int)RequiredNumber(test, "n_prompt", index),
            GeneratedTokens = (int)RequiredNumber(test, "n_gen", index),
            // The mean and deviation are llama-bench's own; the samples allow pooling several rounds.
            Throughput = new Throughput(mean, sd, samples.Length > 0 ? samples : [mean]),
        };
    }

    private static double RequiredNumber(JsonElement test, string name, int index) =>
        Number(test, name) ?? throw new FormatException($"llama-bench test #{index} has no numeric '{name}'.");

    private static double? Number(JsonElement test, string name) =>
        test.TryGetProperty(name, out var value) ? ToDouble(value) : null;

    private static double? ToDouble(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Number => value.GetDouble(),
        JsonValueKind.String when double.TryParse(value.GetString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        JsonValueKind.True => 1,
        JsonValueKind.False => 0,
        _ => null,
    };

    private static string Text(JsonElement test, string name) =>
        test.TryGetProperty(name, out var value) ? value.ValueKind switch
        {
            JsonValueKind.String => value.GetString() ?? "",
            JsonValueKind.Null or JsonValueKind.Undefined => "",
            _ => value.GetRawText(),
        } : "";
}
