using System.Runtime.InteropServices;
using System.Text;

namespace ModelRouter.Protocol;

/// <summary>
/// A parsed token chunk. Layout:
/// <code>
/// 0 u32 token count (tokens this piece covers)   4 str text (complete UTF-8 sequences only)
/// </code>
/// </summary>
public readonly ref struct TokenChunkPayload
{
    public const int FixedSize = 4;

    internal TokenChunkPayload(int tokenCount, ReadOnlySpan<byte> text)
    {
        TokenCount = tokenCount;
        Text = text;
    }

    public int TokenCount { get; }

    /// <summary>The UTF-8 text piece (validated).</summary>
    public ReadOnlySpan<byte> Text { get; }

    public string GetText() => Encoding.UTF8.GetString(Text);
}

/// <summary>
/// A parsed done frame. Layout:
/// <code>
///  0 u8 finish reason   1 u8 route stage (version 2; 0 in version 1)   2 u16 stage confidence × 65535 (version 2; 0 in 1)
///  4 u32 prompt tokens   8 u32 generated tokens   12 f32 tokens per second
/// 16 u64 route ns   24 u64 queue wait ns   32 u64 swap ns   40 u64 time to first token ns   48 u64 total ns
/// 56 str model (that served)   str task type (empty when the model was named)
/// then, in version 3 and later: u32 cached prompt tokens (prefix reuse; at most the prompt tokens)
/// then, in version 4 and later: str serving node (the cluster node that ran it; empty outside a cluster),
///                                str placement (why there: the cluster router's reason; empty outside a cluster)
/// </code>
/// </summary>
public readonly ref struct DonePayload
{
    public const int FixedSize = 56;

    /// <summary>Bytes version 3 appends after the task type (cached prompt tokens).</summary>
    public const int CachedTokensSize = 4;

    internal DonePayload(GenerationStats stats, ReadOnlySpan<byte> model, ReadOnlySpan<byte> taskType, ReadOnlySpan<byte> node, ReadOnlySpan<byte> placement)
    {
        Placement = placement;
        Stats = stats;
        Model = model;
        TaskType = taskType;
        Node = node;
    }

    public GenerationStats Stats { get; }

    public ReadOnlySpan<byte> Model { get; }

    public ReadOnlySpan<byte> TaskType { get; }

    /// <summary>The cluster node that served (version 4; empty before it, and outside a cluster).</summary>
    public ReadOnlySpan<byte> Node { get; }

    /// <summary>Why the request ran on <see cref="Node"/> (version 4): OnDevice, InHostRam, LeastLoaded, Kept, or a fallback's reason.</summary>
    public ReadOnlySpan<byte> Placement { get; }
}

/// <summary>
/// A parsed error frame. Layout:
/// <code>
/// 0 u16 error code   2 u16 reserved = 0   4 str message
/// </code>
/// Codes this version does not define are passed through as numbers (a newer server may send them).
/// </summary>
public readonly ref struct ErrorPayload
{
    public const int FixedSize = 4;

    internal ErrorPayload(ErrorCode code, ReadOnlySpan<byte> message)
    {
        Code = code;
        Message = message;
    }

    public ErrorCode Code { get; }

    public ReadOnlySpan<byte> Message { get; }

    public string GetMessage() => Encoding.UTF8.GetString(Message);
}

/// <summary>
/// A parsed embed result. Layout:
/// <code>
/// 0 u32 prompt tokens   4 str model   then u32 dimension   f32 × dimension
/// </code>
/// </summary>
public readonly ref struct EmbedResultPayload
{
    internal EmbedResultPayload(int promptTokens, ReadOnlySpan<byte> model, ReadOnlySpan<byte> vectorBytes)
    {
        PromptTokens = promptTokens;
        Model = model;
        VectorBytes = vectorBytes;
    }

    public int PromptTokens { get; }

    public ReadOnlySpan<byte> Model { get; }

    /// <summary>The vector as little-endian f32 bytes.</summary>
    public ReadOnlySpan<byte> VectorBytes { get; }

    public int Dimension => VectorBytes.Length / sizeof(float);

    /// <summary>Copies the vector into <paramref name="destination"/> (at least <see cref="Dimension"/> long).</summary>
    public void CopyVectorTo(Span<float> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, float>(VectorBytes).CopyTo(destination);
            return;
        }

        for (var i = 0; i < Dimension; i++)
        {
            destination[i] = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(VectorBytes[(i * 4)..]);
        }
    }

    public EmbeddingResult ToResult()
    {
        var vector = new float[Dimension];
        CopyVectorTo(vector);
        return new EmbeddingResult { Model = Encoding.UTF8.GetString(Model), Vector = vector, PromptTokens = PromptTokens };
    }
}
