using System.Text.Json;

namespace ModelRouter.Routing.Training;

/// <summary>
/// Labelled prompts read from JSON Lines. Two record shapes are accepted and may be mixed:
/// <c>{"text": "...", "label": "code"}</c> (one example; other keys are ignored), and the semantic-router style
/// route definition <c>{"route": "code", "utterances": ["write a function ...", "fix this bug ..."]}</c>.
/// Labels are kept in ordinal order, so the same data always gives the same label indices.
/// </summary>
public sealed class TrainingSet
{
    private TrainingSet(IReadOnlyList<string> labels, IReadOnlyList<LabeledText> examples)
    {
        Labels = labels;
        Examples = examples;
    }

    public IReadOnlyList<string> Labels { get; }

    public IReadOnlyList<LabeledText> Examples { get; }

    /// <summary>The distinct <see cref="LabeledText.Source"/> names, ordinal order (examples without one are left out).</summary>
    public IReadOnlyList<string> Sources =>
        Examples.Select(e => e.Source).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();

    /// <summary>Reads every file of <paramref name="paths"/> into one set (labels over all files, ordinal order).</summary>
    /// <exception cref="TrainingDataException">As <see cref="Load(string)"/>, naming the file.</exception>
    /// <param name="paths">The files.</param>
    /// <param name="minimumLabels">2 for training; 1 for a set that is only evaluated on (one source, one label).</param>
    public static TrainingSet Load(IReadOnlyList<string> paths, int minimumLabels = 2)
    {
        ArgumentNullException.ThrowIfNull(paths);

        var raw = new List<(string Text, string Label, string? Source)>();
        foreach (var path in paths)
        {
            if (!File.Exists(path))
            {
                throw new TrainingDataException($"{path}: no such file.");
            }

            using var reader = new StreamReader(path);
            ReadLines(reader, path, raw);
        }

        return Build(raw, string.Join(" + ", paths), minimumLabels);
    }

    /// <summary>The examples whose source is (<paramref name="keep"/> true) or is not <paramref name="source"/>, same labels.</summary>
    public TrainingSet FilterSource(string source, bool keep)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new TrainingSet(Labels, Examples.Where(e => string.Equals(e.Source, source, StringComparison.Ordinal) == keep).ToArray());
    }

    /// <summary>Reads <paramref name="path"/>.</summary>
    /// <exception cref="TrainingDataException">Missing file, malformed line, or too little data (the message says which).</exception>
    public static TrainingSet Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new TrainingDataException($"{path}: no such file.");
        }

        using var reader = new StreamReader(path);
        return Read(reader, path);
    }

    /// <summary>Reads JSON Lines from <paramref name="reader"/>; <paramref name="name"/> is used in messages.</summary>
    public static TrainingSet Read(TextReader reader, string name)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var raw = new List<(string Text, string Label, string? Source)>();
        ReadLines(reader, name, raw);
        return Build(raw, name, 2);
    }

    private static void ReadLines(TextReader reader, string name, List<(string Text, string Label, string? Source)> raw)
    {
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            JsonDocument document;
            try
            {
                document = JsonDocument.Parse(line);
            }
            catch (JsonException ex)
            {
                throw new TrainingDataException($"{name}:{lineNumber}: not valid JSON ({ex.Message}).", ex);
            }

            using (document)
            {
                ReadRecord(document.RootElement, name, lineNumber, raw);
            }
        }
    }

    private static TrainingSet Build(List<(string Text, string Label, string? Source)> raw, string name, int minimumLabels)
    {
        if (raw.Count == 0)
        {
            throw new TrainingDataException($"{name}: no examples (expected JSON Lines with \"text\" and \"label\", or \"route\" and \"utterances\").");
        }

        var labels = raw.Select(r => r.Label).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (labels.Length < minimumLabels)
        {
            throw new TrainingDataException($"{name}: every example has the label '{labels[0]}'; a classifier needs at least two labels.");
        }

        var index = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
        return new TrainingSet(labels, raw.Select(r => new LabeledText(r.Text, index[r.Label], r.Source)).ToArray());
    }

    /// <summary>A set over the given examples and labels (labels are taken as given, in order).</summary>
    public static TrainingSet Create(IReadOnlyList<string> labels, IReadOnlyList<LabeledText> examples)
    {
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(examples);
        return new TrainingSet(labels, examples);
    }

    /// <summary>
    /// This set's examples relabelled to <paramref name="labels"/> (a trained model's order); examples whose label the
    /// model does not know are counted in <paramref name="unknown"/> and left out.
    /// </summary>
    public TrainingSet AlignTo(IReadOnlyList<string> labels, out int unknown)
    {
        ArgumentNullException.ThrowIfNull(labels);
        var map = labels.Select((l, i) => (l, i)).ToDictionary(p => p.l, p => p.i, StringComparer.Ordinal);
        var kept = new List<LabeledText>(Examples.Count);
        unknown = 0;
        foreach (var example in Examples)
        {
            if (map.TryGetValue(Labels[example.Label], out var i))
            {
                kept.Add(example with { Label = i });
            }
            else
            {
                unknown++;
            }
        }

        return new TrainingSet(labels, kept);
    }

    private static void ReadRecord(JsonElement root, string name, int line, List<(string, string, string?)> into)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new TrainingDataException($"{name}:{line}: expected a JSON object, found {root.ValueKind}.");
        }

        if (root.TryGetProperty("utterances", out var utterances))
        {
            var route = RequiredString(root, "route", name, line, alternative: "label");
            if (utterances.ValueKind != JsonValueKind.Array || utterances.GetArrayLength() == 0)
            {
                throw new TrainingDataException($"{name}:{line}: \"utterances\" of route '{route}' must be a non-empty array of strings.");
            }

            foreach (var utterance in utterances.EnumerateArray())
            {
                if (utterance.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(utterance.GetString()))
                {
                    throw new TrainingDataException($"{name}:{line}: every utterance of route '{route}' must be a non-empty string.");
                }

                into.Add((utterance.GetString()!, route, null));
            }

            return;
        }

        var text = RequiredString(root, "text", name, line, alternative: null);
        var label = RequiredString(root, "label", name, line, alternative: "route");
        var source = root.TryGetProperty("source_dataset", out var dataset) && dataset.ValueKind == JsonValueKind.String ? dataset.GetString() : null;
        into.Add((text, label, source));
    }

    private static string RequiredString(JsonElement root, string key, string name, int line, string? alternative)
    {
        if ((root.TryGetProperty(key, out var value) || (alternative is not null && root.TryGetProperty(alternative, out value)))
            && value.ValueKind == JsonValueKind.String && !string.IsNullOrWhiteSpace(value.GetString()))
        {
            return value.GetString()!;
        }

        var keys = alternative is null ? $"\"{key}\"" : $"\"{key}\" (or \"{alternative}\")";
        throw new TrainingDataException($"{name}:{line}: missing or empty {keys}; each line needs \"text\" and \"label\", or \"route\" and \"utterances\".");
    }
}
