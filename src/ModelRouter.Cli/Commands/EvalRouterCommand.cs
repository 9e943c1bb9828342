using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelRouter.Cli.Reporting;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Encoders;
using ModelRouter.Routing.Evaluation;
using ModelRouter.Routing.Training;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter eval-router --model FILE --data FILE [--json]` or `--holdout-source NAME` (leave one source out): accuracy, macro-F1, per-label precision/recall/F1,
/// the confusion matrix, how often the model is unsure, and p50/p99 nanoseconds and bytes allocated per decision on
/// prompts of about 64 tokens (one thread). With --json, one JSON object on stdout.
/// </summary>
internal static class EvalRouterCommand
{
    private const int Failure = 1;
    private const int UsageError = 2;

    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "Classifier file written by train-router (not with --holdout-source, which trains its own)." };
        var data = new Option<string[]>("--data")
        {
            Description = "Labelled JSON Lines to evaluate on (with --holdout-source: the pool to split; default: train-router's default inputs).",
            AllowMultipleArgumentsPerToken = true,
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object (accuracy, macroF1, p50_ns, p99_ns, bytes_allocated, per_label, by_length, confusion, ...)." };
        var gguf = new Option<string?>("--gguf") { Description = "For a GGUF-embedding classifier: the model's path, if it moved." };
        var decisions = new Option<int>("--latency-decisions") { Description = "Decisions timed for the latency figures (0: no latency run).", DefaultValueFactory = _ => 200_000 };
        var holdout = new Option<string?>("--holdout-source")
        {
            Description = "Leave one source out: train (default options) on the data's rows whose source_dataset is not NAME, evaluate on the rows that are.",
        };
        var seed = new Option<int>("--seed") { Description = "Training seed with --holdout-source.", DefaultValueFactory = _ => 1 };
        var stage2 = new Option<bool>("--stage2")
        {
            Description = "Also measure the cascade: stage 2 (MODEL.stage2; with --holdout-source, trained here without the source) on the prompts stage 1 is unsure of; prints stage 1 alone vs the cascade, the share reaching stage 2 and its latency.",
        };
        var command = new Command("eval-router", "Measure a classifier file on labelled JSON Lines: quality (overall, per label, by prompt length, confusion), latency and allocation per decision; or a leave-one-source-out check.")
        {
            model, data, json, gguf, decisions, holdout, seed, stage2,
        };
        command.SetAction(parse => parse.GetValue(stage2)
            ? RunCascade(parse.GetValue(model), parse.GetValue(data), parse.GetValue(holdout), parse.GetValue(seed))
            : Run(parse.GetValue(model), parse.GetValue(data), parse.GetValue(json), parse.GetValue(gguf), parse.GetValue(decisions), parse.GetValue(holdout), parse.GetValue(seed)));
        return command;
    }

    private static int Run(string? modelPath, string[]? dataPaths, bool asJson, string? gguf, int decisions, string? holdoutSource, int seed)
    {
        if ((modelPath is null) == (holdoutSource is null))
        {
            Console.Error.WriteLine("error: give either --model FILE (with --data FILE) or --holdout-source NAME");
            return UsageError;
        }

        if (modelPath is not null && (dataPaths is null || dataPaths.Length == 0))
        {
            Console.Error.WriteLine("error: --model needs --data FILE.jsonl to evaluate on");
            return UsageError;
        }

        TrainingSet data;
        TaskClassifier classifier;
        try
        {
            var paths = dataPaths is { Length: > 0 } ? dataPaths : DefaultTrainingData.Locate();
            data = TrainingSet.Load(paths, minimumLabels: holdoutSource is null ? 1 : 2);
            var dataName = string.Join(" + ", paths);
            if (holdoutSource is not null)
            {
                Console.Error.WriteLine($"[holdout] training without '{holdoutSource}', then evaluating on its rows");
                var options = new TrainerOptions { Seed = seed, Log = line => Console.Error.WriteLine("[train] " + line) };
                var (evaluation, trained, held) = SourceHoldout.Run(data, holdoutSource, options, decisions);
                dataName = $"{dataName}: the {held} rows of source '{holdoutSource}', held out of training ({trained} rows)";
                Console.Out.Write(asJson ? ToJson(null, evaluation, dataName, holdoutSource) : ToText(null, evaluation, dataName));
                return 0;
            }

            classifier = TaskClassifier.Load(modelPath!, new ClassifierLoadOptions { GgufPath = gguf, Prefault = true });
            using (classifier)
            {
                var evaluation = RouterEvaluation.Run(classifier, data, decisions);
                Console.Out.Write(asJson ? ToJson(classifier, evaluation, dataName, holdoutSource) : ToText(classifier, evaluation, dataName));
                return 0;
            }
        }
        catch (Exception ex) when (ex is TrainingDataException or InvalidDataException or FileNotFoundException or Runtime.InvalidModelFileException or Runtime.Models.ModelLoadException)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return Failure;
        }
    }

    /// <summary>Stage 1 alone against the cascade; one JSON object on stdout (progress on stderr).</summary>
    private static int RunCascade(string? modelPath, string[]? dataPaths, string? holdoutSource, int seed)
    {
        if ((modelPath is null) == (holdoutSource is null) || (modelPath is not null && dataPaths is not { Length: > 0 }))
        {
            Console.Error.WriteLine("error: --stage2 needs --model FILE --data FILE, or --holdout-source NAME");
            return UsageError;
        }

        string? temporary = null;
        try
        {
            var data = TrainingSet.Load(dataPaths is { Length: > 0 } ? dataPaths : DefaultTrainingData.Locate(), minimumLabels: 1);
            if (holdoutSource is not null)
            {
                var rest = data.FilterSource(holdoutSource, keep: false);
                data = data.FilterSource(holdoutSource, keep: true);
                if (data.Examples.Count == 0)
                {
                    Console.Error.WriteLine($"error: no example has source_dataset '{holdoutSource}'");
                    return Failure;
                }

                Console.Error.WriteLine($"[holdout] training stage 1 and stage 2 without '{holdoutSource}' ({rest.Examples.Count} rows)");
                var log = (string line) => Console.Error.WriteLine("[train] " + line);
                temporary = Path.Combine(Path.GetTempPath(), $"modelrouter-cascade-{Environment.ProcessId}.mrtc");
                ClassifierFileWriter.Write(RouterTrainer.Train(rest, new TrainerOptions { Seed = seed, Log = log }).Model, temporary);
                using var encoder = new SentenceEncoder(2, new EncoderHeadOptions().MaxTokens);
                EncoderHeadTrainer.Train(rest, encoder, new EncoderHeadOptions { Seed = seed, Log = log }).Save(EncoderHead.PathFor(temporary));
                modelPath = temporary;
            }

            using var classifier = TaskClassifier.Load(modelPath!);
            using var stage = EncoderStage.Load(EncoderHead.PathFor(modelPath!), classifier.Labels);
            var result = CascadeEvaluation.Run(classifier, stage, data);
            using var full = new SentenceEncoder(2, 256);
            var (p50, p99) = CascadeEvaluation.Latency(full, 256, 50);
            var sorted = result.Stage2Milliseconds.Order().ToArray();
            var inv = CultureInfo.InvariantCulture;
            var text = new StringBuilder();
            text.AppendLine("{");
            text.AppendLine(inv, $"  \"model\": {JsonSerializer.Serialize(holdoutSource is null ? modelPath : $"trained without '{holdoutSource}'")},");
            text.AppendLine(inv, $"  \"examples\": {result.Examples},");
            text.AppendLine(inv, $"  \"stage1_macroF1\": {result.Stage1.MacroF1:F4},");
            text.AppendLine(inv, $"  \"cascade_macroF1\": {result.Cascade.MacroF1:F4},");
            text.AppendLine(inv, $"  \"stage1_accuracy\": {result.Stage1.Accuracy:F4},");
            text.AppendLine(inv, $"  \"cascade_accuracy\": {result.Cascade.Accuracy:F4},");
            text.AppendLine(inv, $"  \"share_reaching_stage2\": {result.ShareReachingStage2:F4},");
            text.AppendLine(inv, $"  \"stage2_unsure_of_reached\": {(result.ReachedStage2 == 0 ? 0 : result.Stage2Unsure / (double)result.ReachedStage2):F4},");
            text.AppendLine(inv, $"  \"stage1_accuracy_on_reached\": {result.Stage1AccuracyOnReached:F4},");
            text.AppendLine(inv, $"  \"stage2_accuracy_on_reached\": {result.Stage2AccuracyOnReached:F4},");
            text.AppendLine(inv, $"  \"stage2_ms_p50_on_data\": {(sorted.Length == 0 ? 0 : sorted[sorted.Length / 2]):F2},");
            text.AppendLine(inv, $"  \"stage2_ms_p50_256_tokens\": {p50:F2},");
            text.AppendLine(inv, $"  \"stage2_ms_p99_256_tokens\": {p99:F2},");
            text.AppendLine(inv, $"  \"stage2_tokens_read\": {stage.Head.MaxTokens}");
            text.AppendLine("}");
            Console.Out.Write(text.ToString());
            return 0;
        }
        catch (Exception ex) when (ex is TrainingDataException or InvalidDataException or FileNotFoundException or Runtime.InvalidModelFileException)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return Failure;
        }
        finally
        {
            if (temporary is not null)
            {
                File.Delete(temporary);
                File.Delete(EncoderHead.PathFor(temporary));
            }
        }
    }

    private static string ToText(TaskClassifier? classifier, RouterEvaluation result, string dataPath)
    {
        var inv = CultureInfo.InvariantCulture;
        var m = result.Metrics;
        var text = new StringBuilder();
        text.AppendLine(classifier is null ? "model:     trained for this check (default options)" : string.Create(inv, $"model:     {classifier.FilePath} (embeddings: {classifier.EmbeddingDescription}, temperature {classifier.Temperature:F3})"));
        text.AppendLine(inv, $"data:      {dataPath} ({m.Count} examples{(result.UnknownLabels > 0 ? $", {result.UnknownLabels} with labels the model lacks left out" : string.Empty)})");
        text.AppendLine(inv, $"accuracy:  {m.Accuracy:F4}");
        text.AppendLine(inv, $"macro-F1:  {m.MacroF1:F4}");
        text.AppendLine(inv, $"unsure:    {result.UnsureFraction:P1} of decisions below their route's threshold; accuracy of the sure ones {result.SureAccuracy:F4}");
        text.AppendLine();
        var table = new TextTable("label", "precision", "recall", "F1", "support", "threshold");
        for (var k = 0; k < m.PerLabel.Count; k++)
        {
            var l = m.PerLabel[k];
            table.Add(l.Label, l.Precision.ToString("F3", inv), l.Recall.ToString("F3", inv), l.F1.ToString("F3", inv), l.Support.ToString(inv), classifier is null ? "-" : classifier.Thresholds[k].ToString("F2", inv));
        }

        text.Append(table.ToText()).AppendLine();
        text.AppendLine("confusion (rows: gold, columns: predicted)");
        var headers = m.Labels.Select(Abbreviate).Prepend("gold \\ predicted").ToArray();
        var confusion = new TextTable(headers);
        for (var i = 0; i < m.Labels.Count; i++)
        {
            confusion.Add(Enumerable.Range(0, m.Labels.Count).Select(j => m.Confusion[i, j].ToString(inv)).Prepend(m.Labels[i]).ToArray());
        }

        text.Append(confusion.ToText()).AppendLine();
        var lengths = new TextTable("length (word tokens)", "examples", "accuracy", "macro-F1");
        foreach (var b in result.ByLength)
        {
            var range = b.MaxTokens == int.MaxValue ? $"{b.Name} (>= {b.MinTokens})" : $"{b.Name} ({b.MinTokens}-{b.MaxTokens - 1})";
            lengths.Add(range, b.Metrics.Count.ToString(inv), b.Metrics.Accuracy.ToString("F4", inv), b.Metrics.MacroF1.ToString("F4", inv));
        }

        text.Append(lengths.ToText()).AppendLine();
        var lat = result.Latency;
        text.AppendLine(inv, $"latency:   {lat.Decisions:N0} decisions on {lat.Prompts} prompts of {lat.MeanPromptTokens:F1} word tokens on average, one thread");
        text.AppendLine(inv, $"           p50 {lat.P50Nanoseconds:F0} ns, p90 {lat.P90Nanoseconds:F0} ns, p99 {lat.P99Nanoseconds:F0} ns, mean {lat.MeanNanoseconds:F0} ns");
        text.AppendLine(inv, $"allocated: {lat.BytesAllocatedPerDecision:F3} bytes per decision");
        if (result.LongLatency is { Decisions: > 0 } longLat)
        {
            text.AppendLine(inv, $"long:      {longLat.Decisions:N0} decisions on {longLat.Prompts} prompts of {longLat.MeanPromptTokens:F0} word tokens: p50 {longLat.P50Nanoseconds:F0} ns, p99 {longLat.P99Nanoseconds:F0} ns, {longLat.BytesAllocatedPerDecision:F3} bytes per decision");
        }

        return text.ToString();
    }

    private static string Abbreviate(string label) => label.Length <= 8 ? label : label[..8];

    private static string ToJson(TaskClassifier? classifier, RouterEvaluation result, string dataPath, string? holdoutSource)
    {
        var m = result.Metrics;
        var lat = result.Latency;
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("model", classifier?.FilePath);
            json.WriteString("data", dataPath);
            json.WriteString("embeddings", classifier?.EmbeddingDescription ?? "none");
            json.WriteNumber("examples", m.Count);
            json.WriteNumber("unknown_labels", result.UnknownLabels);
            json.WriteNumber("accuracy", Math.Round(m.Accuracy, 6));
            json.WriteNumber("macroF1", Math.Round(m.MacroF1, 6));
            json.WriteNumber("macro_f1", Math.Round(m.MacroF1, 6));
            if (holdoutSource is not null)
            {
                json.WriteString("holdout_source", holdoutSource);
            }
            json.WriteNumber("unsure_fraction", Math.Round(result.UnsureFraction, 6));
            json.WriteNumber("sure_accuracy", Math.Round(result.SureAccuracy, 6));
            json.WriteNumber("p50_ns", Math.Round(lat.P50Nanoseconds, 1));
            json.WriteNumber("p90_ns", Math.Round(lat.P90Nanoseconds, 1));
            json.WriteNumber("p99_ns", Math.Round(lat.P99Nanoseconds, 1));
            json.WriteNumber("mean_ns", Math.Round(lat.MeanNanoseconds, 1));
            json.WriteNumber("bytes_allocated", Math.Round(lat.BytesAllocatedPerDecision, 3));
            json.WriteNumber("latency_decisions", lat.Decisions);
            json.WriteNumber("latency_prompt_tokens", Math.Round(lat.MeanPromptTokens, 1));
            if (result.LongLatency is { Decisions: > 0 } longLat)
            {
                json.WriteNumber("long_p50_ns", Math.Round(longLat.P50Nanoseconds, 1));
                json.WriteNumber("long_p99_ns", Math.Round(longLat.P99Nanoseconds, 1));
                json.WriteNumber("long_bytes_allocated", Math.Round(longLat.BytesAllocatedPerDecision, 3));
                json.WriteNumber("long_prompt_tokens", Math.Round(longLat.MeanPromptTokens, 1));
            }

            json.WriteStartObject("per_label");
            for (var k = 0; k < m.PerLabel.Count; k++)
            {
                var l = m.PerLabel[k];
                json.WriteStartObject(l.Label);
                json.WriteNumber("precision", Math.Round(l.Precision, 6));
                json.WriteNumber("recall", Math.Round(l.Recall, 6));
                json.WriteNumber("f1", Math.Round(l.F1, 6));
                json.WriteNumber("support", l.Support);
                if (classifier is not null)
                {
                    json.WriteNumber("threshold", classifier.Thresholds[k]);
                }
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteStartArray("labels");
            foreach (var label in m.Labels)
            {
                json.WriteStringValue(label);
            }

            json.WriteEndArray();
            json.WriteStartArray("confusion");
            for (var i = 0; i < m.Labels.Count; i++)
            {
                json.WriteStartArray();
                for (var j = 0; j < m.Labels.Count; j++)
                {
                    json.WriteNumberValue(m.Confusion[i, j]);
                }

                json.WriteEndArray();
            }

            json.WriteEndArray();
            json.WriteStartObject("by_length");
            foreach (var b in result.ByLength)
            {
                json.WriteStartObject(b.Name);
                json.WriteNumber("min_tokens", b.MinTokens);
                if (b.MaxTokens != int.MaxValue)
                {
                    json.WriteNumber("max_tokens", b.MaxTokens);
                }

                json.WriteNumber("examples", b.Metrics.Count);
                json.WriteNumber("accuracy", Math.Round(b.Metrics.Accuracy, 6));
                json.WriteNumber("macroF1", Math.Round(b.Metrics.MacroF1, 6));
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray()) + Environment.NewLine;
    }
}
