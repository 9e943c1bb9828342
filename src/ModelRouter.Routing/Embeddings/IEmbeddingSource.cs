namespace ModelRouter.Routing.Embeddings;

/// <summary>
/// Pretrained embedding rows the classifier pools: word vectors looked up by word hash, or a GGUF model's token
/// embedding table behind that model's own tokenizer. Implementations allocate nothing per call and are safe for
/// concurrent readers.
/// </summary>
public interface IEmbeddingSource
{
    /// <summary>Length of each row.</summary>
    int Dimensions { get; }

    /// <summary>What the source is, for reports ("glove-6b-100d", "gguf:model.gguf").</summary>
    string Description { get; }

    /// <summary>
    /// Adds the rows of the tokens of one part of a prompt into <paramref name="sum"/> (length <see cref="Dimensions"/>).
    /// Sources that tokenize words themselves use <paramref name="wordHashes"/> (from WordTokenizer); sources with their
    /// own tokenizer use <paramref name="text"/>. At most <paramref name="maxTokens"/> rows are added.
    /// </summary>
    /// <returns>How many rows were added.</returns>
    int AccumulateRows(ReadOnlySpan<char> text, ReadOnlySpan<ulong> wordHashes, int maxTokens, Span<float> sum);
}
