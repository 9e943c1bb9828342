using System.Buffers;
using System.Numerics.Tensors;
using ModelRouter.Runtime.Embeddings;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Text;

namespace ModelRouter.Routing.Embeddings;

/// <summary>
/// Embedding rows from a GGUF model: its token embedding table (mapped, rows dequantised on demand) behind its own
/// tokenizer (the model loaded vocabulary-only, so no weights are read into memory by llama.cpp). Tokenizing goes
/// through llama.cpp into stack or pooled buffers, so a call allocates nothing once the pool is warm.
/// </summary>
public sealed class GgufEmbeddingSource : IEmbeddingSource, IDisposable
{
    private const int StackTokens = 512;
    private const int StackRow = 1024;

    private readonly Model model;
    private readonly TokenEmbeddingTable table;

    private GgufEmbeddingSource(string path, Model model, TokenEmbeddingTable table)
    {
        FilePath = Path.GetFullPath(path);
        this.model = model;
        this.table = table;
        Description = "gguf:" + Path.GetFileName(path);
    }

    public string FilePath { get; }

    public int Dimensions => table.Dimensions;

    public string Description { get; }

    /// <summary>Rows in the model's table (its vocabulary size).</summary>
    public int TokenCount => table.TokenCount;

    /// <summary>Opens the model at <paramref name="path"/> for its tokenizer and token embedding table.</summary>
    public static GgufEmbeddingSource Open(string path)
    {
        var table = TokenEmbeddingTable.Open(path);
        try
        {
            var model = Model.Load(path, new ModelLoadOptions { VocabOnly = true });
            if (model.Vocabulary.Count != table.TokenCount)
            {
                model.Dispose();
                throw new InvalidDataException($"{path}: the tokenizer has {model.Vocabulary.Count} tokens but the embedding table {table.TokenCount} rows.");
            }

            return new GgufEmbeddingSource(path, model, table);
        }
        catch
        {
            table.Dispose();
            throw;
        }
    }

    public int AccumulateRows(ReadOnlySpan<char> text, ReadOnlySpan<ulong> wordHashes, int maxTokens, Span<float> sum)
    {
        if (text.IsEmpty || maxTokens <= 0)
        {
            return 0;
        }

        var vocabulary = model.Vocabulary;
        int[]? rentedTokens = null;
        float[]? rentedRow = null;
        var dims = table.Dimensions;
        Span<int> tokens = stackalloc int[StackTokens];
        Span<float> row = dims <= StackRow ? stackalloc float[StackRow] : (rentedRow = ArrayPool<float>.Shared.Rent(dims));
        try
        {
            if (!vocabulary.TryTokenize(text, tokens, out var count))
            {
                rentedTokens = ArrayPool<int>.Shared.Rent(count);
                tokens = rentedTokens;
                vocabulary.TryTokenize(text, tokens, out count);
            }

            var limit = Math.Min(count, maxTokens);
            row = row[..dims];
            for (var i = 0; i < limit; i++)
            {
                table.GetRow(tokens[i], row);
                TensorPrimitives.Add(sum, row, sum);
            }

            return limit;
        }
        finally
        {
            if (rentedTokens is not null)
            {
                ArrayPool<int>.Shared.Return(rentedTokens);
            }

            if (rentedRow is not null)
            {
                ArrayPool<float>.Shared.Return(rentedRow);
            }
        }
    }

    public void Dispose()
    {
        model.Dispose();
        table.Dispose();
    }
}
