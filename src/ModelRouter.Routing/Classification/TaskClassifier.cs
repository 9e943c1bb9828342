using System.Buffers;
using System.Buffers.Binary;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Text;
using ModelRouter.Routing.Embeddings;
using ModelRouter.Routing.Features;

namespace ModelRouter.Routing.Classification;

/// <summary>
/// Names the task type of a prompt in about a microsecond: word tokens into a stack buffer, hashed n-gram rows and
/// pooled embedding rows, one linear head, a calibrated softmax. The weights are the classifier file itself, mapped
/// read-only, so loading takes milliseconds and nothing is copied. <see cref="Classify(ReadOnlySpan{char}, Span{float})"/>
/// allocates nothing and is safe for any number of concurrent callers; do not dispose while calls are in flight.
/// </summary>
public sealed unsafe class TaskClassifier : IDisposable
{
    private const int StackDense = 1024;

    private readonly MappedClassifierFile file;
    private readonly Featurizer featurizer;
    private readonly IDisposable? ownedSource;
    private readonly float* bias;
    private readonly float* thresholds;
    private readonly float* sparse;
    private readonly int sparseLength;
    private readonly float* denseHead;
    private readonly int denseHeadLength;
    private readonly int stride;
    private readonly string[] labels;
    private readonly WordVectorIndex? projectedWords;

    private TaskClassifier(MappedClassifierFile file, IEmbeddingSource? source, WordVectorIndex? projectedWords, IDisposable? ownedSource)
    {
        this.file = file;
        this.ownedSource = ownedSource;
        this.projectedWords = projectedWords;
        labels = file.ReadLabels();
        LabelCount = labels.Length;
        stride = file.SparseStride;
        Temperature = file.Temperature;
        featurizer = new Featurizer(file.Features, source);
        bias = (float*)file.Section(ClassifierSection.Bias, LabelCount * sizeof(float));
        thresholds = (float*)file.Section(ClassifierSection.Thresholds, LabelCount * sizeof(float));
        var sparseFloats = (1L << file.Features.HashBits) * stride;
        if (sparseFloats > int.MaxValue)
        {
            throw MappedClassifierFile.Invalid(file.FilePath, "the hashed row table is larger than 2^31 floats");
        }

        sparseLength = (int)sparseFloats;
        sparse = (float*)file.Section(ClassifierSection.Sparse, sparseFloats * sizeof(float));
        denseHeadLength = LabelCount * featurizer.DenseLength;
        denseHead = (float*)file.Section(ClassifierSection.DenseHead, (long)denseHeadLength * sizeof(float));
        Metadata = file.HasSection(ClassifierSection.Metadata) ? Encoding.UTF8.GetString(file.SectionBytes(ClassifierSection.Metadata)) : "{}";
        EmbeddingDescription = projectedWords?.Description ?? source?.Description ?? "none";
        for (var k = 0; k < LabelCount; k++)
        {
            if (!float.IsFinite(bias[k]) || !float.IsFinite(thresholds[k]) || thresholds[k] is < 0 or > 1)
            {
                throw MappedClassifierFile.Invalid(file.FilePath, $"label {k} has a non-finite bias or a threshold outside 0..1");
            }
        }
    }

    /// <summary>Route names, in score order.</summary>
    public IReadOnlyList<string> Labels => labels;

    public int LabelCount { get; }

    /// <summary>Softmax temperature fitted on held-out data at training time.</summary>
    public float Temperature { get; }

    /// <summary>Per-label calibrated-confidence floors stored with the model.</summary>
    public ReadOnlySpan<float> Thresholds => new(thresholds, LabelCount);

    /// <summary>What the pooled embedding rows come from ("glove-6b-100d", "gguf:…", "none").</summary>
    public string EmbeddingDescription { get; }

    public FeatureSettings Features => featurizer.Settings;

    /// <summary>The JSON the trainer stored with the model.</summary>
    public string Metadata { get; }

    public string FilePath => file.FilePath;

    /// <summary>Maps the classifier file at <paramref name="path"/> and checks it.</summary>
    /// <exception cref="FileNotFoundException">No file there.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid classifier file, with the problem.</exception>
    public static TaskClassifier Load(string path, ClassifierLoadOptions? options = null)
    {
        options ??= ClassifierLoadOptions.Default;
        var file = MappedClassifierFile.Open(path);
        GgufEmbeddingSource? owned = null;
        try
        {
            IEmbeddingSource? source = null;
            WordVectorIndex? projected = null;
            switch (file.EmbeddingKind)
            {
                case EmbeddingKind.WordVectors:
                    projected = MapWordVectors(file);
                    break;
                case EmbeddingKind.Gguf:
                    var gguf = OpenGguf(file, options.GgufPath);
                    owned = gguf;
                    source = gguf;
                    break;
                case EmbeddingKind.None:
                    break;
            }

            var classifier = new TaskClassifier(file, source, projected, owned);
            if (options.Prefault)
            {
                classifier.Prefault();
            }

            return classifier;
        }
        catch
        {
            owned?.Dispose();
            file.Dispose();
            throw;
        }
    }

    /// <summary>Index of <paramref name="label"/>, or -1.</summary>
    public int IndexOf(string label) => Array.IndexOf(labels, label);

    /// <summary>
    /// Classifies <paramref name="text"/>: writes each label's calibrated probability into <paramref name="scores"/>
    /// (at least <see cref="LabelCount"/> long) and returns the winner. Allocates nothing.
    /// </summary>
    [SkipLocalsInit]
    public Prediction Classify(ReadOnlySpan<char> text, Span<float> scores)
    {
        if (scores.Length < LabelCount)
        {
            ThrowScoresTooShort(scores.Length);
        }

        scores = scores[..LabelCount];
        Span<int> rows = stackalloc int[featurizer.MaxSparseFeatures];
        float[]? rented = null;
        var denseLength = featurizer.DenseLength;
        var dense = denseLength <= StackDense ? stackalloc float[StackDense] : (rented = ArrayPool<float>.Shared.Rent(denseLength));
        try
        {
            dense = dense[..denseLength];
            Span<float> wordScores = stackalloc float[stride];
            int count;
            if (projectedWords is not null)
            {
                wordScores.Clear();
                count = featurizer.FeaturizeProjected(text, rows, projectedWords, wordScores);
            }
            else
            {
                count = featurizer.Featurize(text, rows, dense);
            }

            LinearHead.Score(
                rows[..count],
                new ReadOnlySpan<float>(sparse, sparseLength),
                stride,
                dense,
                new ReadOnlySpan<float>(denseHead, denseHeadLength),
                new ReadOnlySpan<float>(bias, LabelCount),
                scores);
            if (projectedWords is not null)
            {
                TensorPrimitives.Add(scores, wordScores[..LabelCount], scores);
            }

            var winner = LinearHead.Softmax(scores, Temperature);
            return new Prediction(winner, scores[winner]);
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<float>.Shared.Return(rented);
            }
        }
    }

    /// <summary>Classifies without returning per-label scores.</summary>
    [SkipLocalsInit]
    public Prediction Classify(ReadOnlySpan<char> text)
    {
        Span<float> scores = stackalloc float[ClassifierFormat.MaxLabels];
        return Classify(text, scores);
    }

    public void Dispose()
    {
        ownedSource?.Dispose();
        file.Dispose();
    }

    private void Prefault()
    {
        // One read per 4 KiB page is enough to fault the whole table in; the sum only stops the JIT dropping the loop.
        var sum = 0f;
        for (long i = 0; i < sparseLength; i += 1024)
        {
            sum += sparse[i];
        }

        GC.KeepAlive(sum);
    }

    private static WordVectorIndex MapWordVectors(MappedClassifierFile file)
    {
        var keyBytes = file.SectionBytes(ClassifierSection.VectorKeys).Length;
        var capacity = keyBytes / sizeof(ulong);
        if (capacity < 16 || (capacity & (capacity - 1)) != 0 || keyBytes % sizeof(ulong) != 0)
        {
            throw MappedClassifierFile.Invalid(file.FilePath, $"the word-vector key table ({keyBytes} bytes) is not a power-of-two slot count");
        }

        var keys = (ulong*)file.Section(ClassifierSection.VectorKeys, keyBytes);
        var rows = (int*)file.Section(ClassifierSection.VectorRows, (long)capacity * sizeof(int));
        // Word vectors are stored folded into score space: per word, the head's instruction half applied to its vector,
        // then the passage half (2 x stride floats), so a word costs one small add at classification time.
        var dims = 2 * file.SparseStride;
        var vectorBytes = file.SectionBytes(ClassifierSection.Vectors).Length;
        if (vectorBytes % (dims * sizeof(float)) != 0)
        {
            throw MappedClassifierFile.Invalid(file.FilePath, "the word-vector rows are not a whole number of rows");
        }

        var rowCount = vectorBytes / (dims * sizeof(float));
        var vectors = (float*)file.Section(ClassifierSection.Vectors, vectorBytes);
        for (var i = 0; i < capacity; i++)
        {
            // A row number outside the table would read past the mapping on a lookup: check every slot once here.
            if (keys[i] != 0 && (uint)rows[i] >= (uint)rowCount)
            {
                throw MappedClassifierFile.Invalid(file.FilePath, $"word-vector slot {i} points at row {rows[i]} of {rowCount}");
            }
        }

        return new WordVectorIndex(keys, rows, capacity, vectors, rowCount, dims, $"glove-6b-{file.EmbeddingDimensions}d (folded)", file);
    }

    private static GgufEmbeddingSource OpenGguf(MappedClassifierFile file, string? overridePath)
    {
        var data = file.SectionBytes(ClassifierSection.Gguf);
        if (data.Length < 18 || data.Length < 18 + BinaryPrimitives.ReadUInt16LittleEndian(data[16..]))
        {
            throw MappedClassifierFile.Invalid(file.FilePath, "the GGUF reference section is truncated");
        }

        var tokenCount = BinaryPrimitives.ReadInt32LittleEndian(data);
        var dims = BinaryPrimitives.ReadInt32LittleEndian(data[4..]);
        var stored = Encoding.UTF8.GetString(data.Slice(18, BinaryPrimitives.ReadUInt16LittleEndian(data[16..])));
        var path = overridePath ?? stored;
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The classifier {file.FilePath} pools the token embeddings of {path}, which does not exist (pass its new path).", path);
        }

        var source = GgufEmbeddingSource.Open(path);
        if (source.TokenCount != tokenCount || source.Dimensions != dims || dims != file.EmbeddingDimensions)
        {
            source.Dispose();
            throw new InvalidDataException($"{path} has {source.TokenCount} tokens x {source.Dimensions} dims; the classifier {file.FilePath} was trained on {tokenCount} x {dims}.");
        }

        return source;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ThrowScoresTooShort(int length) =>
        throw new ArgumentException($"The scores span holds {length} floats; this classifier has {LabelCount} labels.");
}
