using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Text;
using ModelRouter.Routing.Classification;

namespace ModelRouter.Routing.Encoders;

/// <summary>
/// Stage 2's classifier: multinomial logistic regression over a sentence encoder's embedding, calibrated by a
/// temperature, with per-route thresholds like stage 1's. Stored next to the stage-1 file as <c>FILE.stage2</c>
/// (<see cref="PathFor"/>), format MRE2 (layout in docs/routing.md); it names the encoder it was trained on and its
/// routes, and is refused with the exact mismatch when either differs from what it is asked to run with.
/// </summary>
public sealed class EncoderHead
{
    public const uint Magic = 0x3245524D; // "MRE2"
    public const uint Version = 1;

    public EncoderHead(string encoderId, int maxTokens, IReadOnlyList<string> labels, float[] weights, float[] bias, float[] thresholds, float temperature)
    {
        ArgumentNullException.ThrowIfNull(encoderId);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(bias);
        ArgumentNullException.ThrowIfNull(thresholds);
        if (labels.Count < 2 || bias.Length != labels.Count || thresholds.Length != labels.Count || weights.Length % labels.Count != 0 || weights.Length == 0)
        {
            throw new ArgumentException($"A head for {labels.Count} routes needs {labels.Count} biases and thresholds and K×D weights (got {bias.Length}, {thresholds.Length}, {weights.Length}).");
        }

        if (!float.IsFinite(temperature) || temperature <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "The temperature must be positive.");
        }

        EncoderId = encoderId;
        MaxTokens = maxTokens;
        Labels = labels.ToArray();
        Weights = weights;
        Bias = bias;
        Thresholds = thresholds;
        Temperature = temperature;
        Dimensions = weights.Length / labels.Count;
    }

    public string EncoderId { get; }

    /// <summary>Tokens the encoder reads per prompt (the head was trained on embeddings of this length).</summary>
    public int MaxTokens { get; }

    public IReadOnlyList<string> Labels { get; }

    public int Dimensions { get; }

    /// <summary>Row-major K × D.</summary>
    internal float[] Weights { get; }

    internal float[] Bias { get; }

    public float[] Thresholds { get; }

    public float Temperature { get; }

    /// <summary>Where the stage-2 head of a stage-1 classifier file lives.</summary>
    public static string PathFor(string classifierPath) => classifierPath + ".stage2";

    /// <summary>The calibrated winner; <paramref name="probabilities"/> (length K) receives every route's probability.</summary>
    public Prediction Predict(ReadOnlySpan<float> embedding, Span<float> probabilities)
    {
        if (embedding.Length != Dimensions || probabilities.Length < Labels.Count)
        {
            throw new ArgumentException($"The head takes {Dimensions}-wide embeddings and {Labels.Count} outputs (got {embedding.Length}, {probabilities.Length}).");
        }

        var k = Labels.Count;
        var p = probabilities[..k];
        for (var i = 0; i < k; i++)
        {
            p[i] = (TensorPrimitives.Dot(Weights.AsSpan(i * Dimensions, Dimensions), embedding) + Bias[i]) / Temperature;
        }

        TensorPrimitives.SoftMax(p, p);
        var best = TensorPrimitives.IndexOfMax(p);
        return new Prediction(best, p[best]);
    }

    /// <summary>Checks that this head runs on <paramref name="encoderId"/> and decides among <paramref name="routes"/>.</summary>
    /// <exception cref="InvalidDataException">Either differs; the message names both sides.</exception>
    public void CheckCompatible(string path, string encoderId, int dimensions, IReadOnlyList<string> routes)
    {
        ArgumentNullException.ThrowIfNull(routes);
        if (!string.Equals(EncoderId, encoderId, StringComparison.Ordinal) || Dimensions != dimensions)
        {
            throw new InvalidDataException($"{path}: this stage-2 head was trained on '{EncoderId}' ({Dimensions} dims), but the encoder here is '{encoderId}' ({dimensions} dims); retrain it with `modelrouter train-router --stage2`.");
        }

        if (!Labels.SequenceEqual(routes, StringComparer.Ordinal))
        {
            throw new InvalidDataException($"{path}: this stage-2 head decides among [{string.Join(", ", Labels)}], the stage-1 classifier among [{string.Join(", ", routes)}]; retrain both together with `modelrouter train-router --stage2`.");
        }
    }

    /// <summary>Writes to PATH.tmp, then renames (a watcher never sees half a file).</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var temporary = path + ".tmp";
        using (var stream = File.Create(temporary))
        using (var writer = new BinaryWriter(stream, Encoding.UTF8))
        {
            writer.Write(Magic);
            writer.Write(Version);
            writer.Write((uint)Labels.Count);
            writer.Write((uint)Dimensions);
            writer.Write((uint)MaxTokens);
            writer.Write(Temperature);
            WriteString(writer, EncoderId);
            foreach (var label in Labels)
            {
                WriteString(writer, label);
            }

            WriteFloats(writer, Bias);
            WriteFloats(writer, Thresholds);
            WriteFloats(writer, Weights);
        }

        File.Move(temporary, path, overwrite: true);
    }

    /// <exception cref="FileNotFoundException">No file at <paramref name="path"/>.</exception>
    /// <exception cref="InvalidDataException">Not an MRE2 file, another version, or truncated; the message says which.</exception>
    public static EncoderHead Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"No stage-2 head at {path} (train one with `modelrouter train-router --stage2`).", path);
        }

        var bytes = File.ReadAllBytes(path);
        try
        {
            var span = bytes.AsSpan();
            if (span.Length < 24 || BinaryPrimitives.ReadUInt32LittleEndian(span) != Magic)
            {
                throw new InvalidDataException($"{path} is not a stage-2 head file (no MRE2 magic).");
            }

            var version = BinaryPrimitives.ReadUInt32LittleEndian(span[4..]);
            if (version != Version)
            {
                throw new InvalidDataException($"{path} is a version {version} stage-2 head; this build reads version {Version}: retrain it with `modelrouter train-router --stage2`.");
            }

            var k = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[8..]);
            var d = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[12..]);
            var maxTokens = (int)BinaryPrimitives.ReadUInt32LittleEndian(span[16..]);
            var temperature = BinaryPrimitives.ReadSingleLittleEndian(span[20..]);
            if (k is < 2 or > 256 || d is < 1 or > 8192 || maxTokens is < 8 or > 512)
            {
                throw new InvalidDataException($"{path}: implausible header ({k} routes, {d} dims, {maxTokens} tokens).");
            }

            var at = 24;
            var encoderId = ReadString(span, ref at);
            var labels = new string[k];
            for (var i = 0; i < k; i++)
            {
                labels[i] = ReadString(span, ref at);
            }

            var bias = ReadFloats(span, ref at, k);
            var thresholds = ReadFloats(span, ref at, k);
            var weights = ReadFloats(span, ref at, k * d);
            return at != span.Length
                ? throw new InvalidDataException($"{path}: {span.Length - at} bytes after the weights (not a file this build wrote).")
                : new EncoderHead(encoderId, maxTokens, labels, weights, bias, thresholds, temperature);
        }
        catch (ArgumentOutOfRangeException)
        {
            throw new InvalidDataException($"{path} is truncated ({bytes.Length} bytes).");
        }
    }

    private static void WriteString(BinaryWriter writer, string value)
    {
        var utf8 = Encoding.UTF8.GetBytes(value);
        writer.Write((ushort)utf8.Length);
        writer.Write(utf8);
    }

    private static void WriteFloats(BinaryWriter writer, float[] values)
    {
        foreach (var value in values)
        {
            writer.Write(value);
        }
    }

    private static string ReadString(ReadOnlySpan<byte> span, ref int at)
    {
        var length = BinaryPrimitives.ReadUInt16LittleEndian(span[at..]);
        var value = Encoding.UTF8.GetString(span.Slice(at + 2, length));
        at += 2 + length;
        return value;
    }

    private static float[] ReadFloats(ReadOnlySpan<byte> span, ref int at, int count)
    {
        var values = new float[count];
        var source = span.Slice(at, count * 4);
        for (var i = 0; i < count; i++)
        {
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * 4)..]);
        }

        at += count * 4;
        return values;
    }
}
