using System.Buffers;

namespace ModelRouter.Protocol;

/// <summary>
/// A contiguous view of a payload. Single-segment payloads (the common case: a frame inside one pipe segment) are
/// not copied; a payload split across segments is copied into an <see cref="ArrayPool{T}"/> buffer, returned on
/// <see cref="Dispose"/>. Either way nothing is allocated in steady state.
/// </summary>
public ref struct PayloadLease
{
    private byte[]? rented;

    public PayloadLease(scoped in ReadOnlySequence<byte> payload)
    {
        if (payload.IsSingleSegment)
        {
            rented = null;
            Span = payload.FirstSpan;
        }
        else
        {
            var length = checked((int)payload.Length);
            rented = ArrayPool<byte>.Shared.Rent(length);
            payload.CopyTo(rented);
            Span = rented.AsSpan(0, length);
        }
    }

    /// <summary>The payload bytes; valid until <see cref="Dispose"/> and until the reader advances.</summary>
    public ReadOnlySpan<byte> Span { get; private set; }

    public void Dispose()
    {
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
            rented = null;
        }

        Span = default;
    }
}
