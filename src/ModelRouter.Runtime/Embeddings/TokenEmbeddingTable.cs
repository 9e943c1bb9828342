using ModelRouter.Interop;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Embeddings;

/// <summary>
/// Read access to a model's token embedding table (<c>token_embd.weight</c>), straight from the memory-mapped GGUF
/// (no copy of the table), each row dequantised to float by ggml's own type traits on demand. This is what the
/// router's classifier builds on. Thread-safe for readers.
/// </summary>
public sealed unsafe class TokenEmbeddingTable : IDisposable
{
    public const string TensorName = "token_embd.weight";

    private readonly GgufFile file;
    private readonly byte* rows;
    private readonly long rowBytes;
    private readonly delegate* unmanaged[Cdecl]<void*, float*, long, void> toFloat;

    private TokenEmbeddingTable(GgufFile file, GgufTensorInfo tensor, delegate* unmanaged[Cdecl]<void*, float*, long, void> toFloat)
    {
        this.file = file;
        this.toFloat = toFloat;
        Dimensions = checked((int)tensor.Dimensions[0]);
        TokenCount = checked((int)tensor.Dimensions[1]);
        Type = tensor.Type;
        rowBytes = tensor.ByteSize / TokenCount;
        rows = file.GetTensorPointer(tensor);
    }

    /// <summary>Rows in the table (the vocabulary size).</summary>
    public int TokenCount { get; }

    /// <summary>Length of each row (the model's n_embd).</summary>
    public int Dimensions { get; }

    /// <summary>Storage type of the rows in the file.</summary>
    public GgmlType Type { get; }

    /// <summary>Opens the table of the GGUF at <paramref name="path"/> (validated first).</summary>
    /// <exception cref="InvalidModelFileException">The file is malformed or has no 2-D token embedding table.</exception>
    public static TokenEmbeddingTable Open(string path)
    {
        var file = GgufFile.Open(path);
        try
        {
            if (!file.TryGetTensor(TensorName, out var tensor) || tensor.Dimensions.Length != 2)
            {
                throw new InvalidModelFileException(file.FilePath, $"no 2-D tensor '{TensorName}' (token embedding table)");
            }

            NativeRuntime.EnsureInitialized();
            if (tensor.Type == GgmlType.F32)
            {
                return new TokenEmbeddingTable(file, tensor, null); // rows are already floats: copied as they are
            }

            var traits = Ggml.ggml_get_type_traits((ggml_type)(int)tensor.Type);
            if (traits == null || traits->to_float == null)
            {
                throw new InvalidModelFileException(file.FilePath, $"'{TensorName}' has type {tensor.Type}, which ggml cannot convert to float");
            }

            return new TokenEmbeddingTable(file, tensor, traits->to_float);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Writes row <paramref name="token"/> as floats into <paramref name="destination"/> (no allocation).</summary>
    public void GetRow(int token, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(token);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(token, TokenCount);
        if (destination.Length < Dimensions)
        {
            throw new ArgumentException($"The destination holds {destination.Length} floats; rows have {Dimensions}.", nameof(destination));
        }

        if (toFloat == null)
        {
            new ReadOnlySpan<float>(rows + token * rowBytes, Dimensions).CopyTo(destination);
            return;
        }

        fixed (float* output = destination)
        {
            toFloat(rows + token * rowBytes, output, Dimensions);
        }
    }

    /// <summary>Dequantises the whole table, row after row, into <paramref name="destination"/> (TokenCount × Dimensions).</summary>
    public void CopyTo(Span<float> destination)
    {
        if (destination.Length < (long)TokenCount * Dimensions)
        {
            throw new ArgumentException($"The destination needs {(long)TokenCount * Dimensions} floats.", nameof(destination));
        }

        for (var token = 0; token < TokenCount; token++)
        {
            GetRow(token, destination.Slice(token * Dimensions, Dimensions));
        }
    }

    public void Dispose() => file.Dispose();
}
