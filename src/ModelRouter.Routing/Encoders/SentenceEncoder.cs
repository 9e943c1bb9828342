using System.Numerics.Tensors;
using FastBertTokenizer;
using Microsoft.ML.OnnxRuntime;

namespace ModelRouter.Routing.Encoders;

/// <summary>
/// A BERT-family sentence encoder (MiniLM-L6, 384 dimensions) on ONNX Runtime's CPU provider: WordPiece tokens (at
/// most <see cref="MaxTokens"/>, the rest of a long prompt is not read), the transformer, the mean of the token states
/// under the attention mask, L2-normalised, as sentence-transformers computes it. One session serves concurrent
/// callers (ONNX Runtime's Run is thread-safe); each call allocates its own tensors, which is fine for a stage that
/// runs only on the prompts stage 1 is unsure of and costs milliseconds.
/// </summary>
public sealed class SentenceEncoder : IDisposable
{
    private readonly InferenceSession session;
    private readonly BertTokenizer tokenizer = new();
    private readonly string inputIds;
    private readonly string attentionMask;
    private readonly string? tokenTypes;
    private readonly string output;

    /// <param name="threads">Intra-op threads of ONNX Runtime (the cores one encoding may use).</param>
    /// <param name="maxTokens">Tokens read per prompt, [CLS] and [SEP] included (MiniLM was trained on ≤ 256).</param>
    /// <param name="assemblyPath">The package assembly holding the weights; null: <see cref="PackagedModel.DefaultPath"/>.</param>
    public SentenceEncoder(int threads = 1, int maxTokens = 256, string? assemblyPath = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 8);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(maxTokens, 512);
        MaxTokens = maxTokens;
        var (onnx, vocabulary) = PackagedModel.Read(assemblyPath);
        using (var reader = new StringReader(vocabulary))
        {
            tokenizer.LoadVocabulary(reader, convertInputToLowercase: true);
        }

        using var options = new SessionOptions
        {
            IntraOpNumThreads = threads,
            InterOpNumThreads = 1,
            ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
            GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        session = new InferenceSession(onnx, options);
        var inputs = session.InputMetadata.Keys.ToList();
        inputIds = inputs.Find(n => n.Contains("input_ids", StringComparison.Ordinal)) ?? throw new InvalidDataException("The encoder graph has no input_ids input.");
        attentionMask = inputs.Find(n => n.Contains("attention_mask", StringComparison.Ordinal)) ?? throw new InvalidDataException("The encoder graph has no attention_mask input.");
        tokenTypes = inputs.Find(n => n.Contains("token_type_ids", StringComparison.Ordinal));
        var outputs = session.OutputMetadata;
        output = outputs.Keys.FirstOrDefault(n => n is "last_hidden_state" or "token_embeddings") ?? outputs.Keys.First();
        Dimensions = outputs[output].Dimensions[^1];
        if (Dimensions <= 0)
        {
            throw new InvalidDataException($"The encoder's output '{output}' has no fixed width.");
        }
    }

    /// <summary>Width of an embedding (384 for MiniLM-L6).</summary>
    public int Dimensions { get; }

    public int MaxTokens { get; }

    /// <summary>Embeds one text into <paramref name="embedding"/> (length <see cref="Dimensions"/>), L2-normalised.</summary>
    public void Encode(string text, Span<float> embedding)
    {
        ArgumentNullException.ThrowIfNull(text);
        var embeddings = new float[Dimensions];
        EncodeBatch([text], embeddings);
        embeddings.CopyTo(embedding);
    }

    /// <summary>
    /// Embeds several texts in one run (padded to the longest), row i of <paramref name="embeddings"/> for text i.
    /// Batching texts of similar length is much faster per text than one at a time; training embeds this way.
    /// </summary>
    public void EncodeBatch(IReadOnlyList<string> texts, Span<float> embeddings)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (embeddings.Length < texts.Count * Dimensions)
        {
            throw new ArgumentException($"The output holds {embeddings.Length} floats; {texts.Count} embeddings need {texts.Count * Dimensions}.", nameof(embeddings));
        }

        if (texts.Count == 0)
        {
            return;
        }

        var ids = new long[texts.Count][];
        var masks = new long[texts.Count][];
        var lengths = new int[texts.Count];
        var longest = 1;
        for (var i = 0; i < texts.Count; i++)
        {
            ids[i] = new long[MaxTokens];
            masks[i] = new long[MaxTokens];
            lengths[i] = tokenizer.Encode(texts[i] ?? "", ids[i], masks[i], MaxTokens);
            longest = Math.Max(longest, lengths[i]);
        }

        var batchIds = new long[texts.Count * longest];
        var batchMask = new long[texts.Count * longest];
        for (var i = 0; i < texts.Count; i++)
        {
            ids[i].AsSpan(0, lengths[i]).CopyTo(batchIds.AsSpan(i * longest));
            masks[i].AsSpan(0, lengths[i]).CopyTo(batchMask.AsSpan(i * longest));
        }

        long[] shape = [texts.Count, longest];
        using var idsValue = OrtValue.CreateTensorValueFromMemory(batchIds, shape);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(batchMask, shape);
        using var typesValue = tokenTypes is null ? null : OrtValue.CreateTensorValueFromMemory(new long[batchIds.Length], shape);
        var names = new List<string> { inputIds, attentionMask };
        var values = new List<OrtValue> { idsValue, maskValue };
        if (typesValue is not null)
        {
            names.Add(tokenTypes!);
            values.Add(typesValue);
        }

        using var run = new RunOptions();
        using var results = session.Run(run, names, values, [output]);
        var states = results[0].GetTensorDataAsSpan<float>();
        for (var i = 0; i < texts.Count; i++)
        {
            var target = embeddings.Slice(i * Dimensions, Dimensions);
            target.Clear();
            var count = 0;
            for (var t = 0; t < longest; t++)
            {
                if (batchMask[(i * longest) + t] == 0)
                {
                    continue;
                }

                TensorPrimitives.Add(target, states.Slice(((i * longest) + t) * Dimensions, Dimensions), target);
                count++;
            }

            var norm = TensorPrimitives.Norm(target);
            if (count > 0 && norm > 0)
            {
                TensorPrimitives.Divide(target, norm, target);
            }
        }
    }

    public void Dispose() => session.Dispose();
}
