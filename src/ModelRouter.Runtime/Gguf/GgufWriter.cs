using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// Writes a GGUF v3 file in one forward pass, streaming tensor data so that a multi-GB model is written in
/// constant memory.
/// </summary>
/// <remarks>
/// Use it in three phases: (1) add metadata (<c>Add…</c>, <see cref="CopyMetadata"/>) and declare every tensor
/// (<see cref="AddTensor"/>); (2) <see cref="WriteHeader"/>, after which offsets are fixed; (3) write each
/// tensor's bytes in declaration order through the <see cref="IBufferWriter{T}"/> members or
/// <see cref="WriteTensorData"/>, then <see cref="Complete"/>. Padding between tensors is inserted automatically.
/// Metadata is buffered until the header is written (its counts come first); tensor data is never buffered
/// beyond one chunk. The layout is exactly what ggml's gguf.cpp expects: tensors packed in index order, each
/// padded to the alignment.
/// </remarks>
public sealed partial class GgufWriter : IBufferWriter<byte>, IDisposable
{
    private const int ChunkSize = 1 << 20;

    private readonly Stream output;
    private readonly bool leaveOpen;
    private readonly ArrayBufferWriter<byte> metadata = new(64 * 1024);
    private readonly HashSet<string> keys = new(StringComparer.Ordinal);
    private readonly List<PendingTensor> tensors = [];
    private readonly HashSet<string> tensorNames = new(StringComparer.Ordinal);
    private byte[] buffer;
    private int buffered;
    private long dataSize;
    private int current = -1;
    private long currentRemaining;
    private Phase phase = Phase.Declaring;

    /// <summary>Creates a writer over <paramref name="output"/>, which it disposes unless <paramref name="leaveOpen"/>.</summary>
    /// <param name="output">A writable stream, positioned where the file starts.</param>
    /// <param name="alignment">Tensor data alignment, a power of two; anything but 32 is recorded as <c>general.alignment</c>.</param>
    /// <param name="leaveOpen">Whether disposing the writer leaves <paramref name="output"/> open.</param>
    public GgufWriter(Stream output, int alignment = GgufFormat.DefaultAlignment, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite)
        {
            throw new ArgumentException("The output stream is not writable.", nameof(output));
        }

        if (alignment <= 0 || (alignment & (alignment - 1)) != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(alignment), alignment, "The alignment must be a positive power of two.");
        }

        this.output = output;
        this.leaveOpen = leaveOpen;
        Alignment = alignment;
        buffer = ArrayPool<byte>.Shared.Rent(ChunkSize);
        if (alignment != GgufFormat.DefaultAlignment)
        {
            AddUInt32(GgufFormat.AlignmentKey, (uint)alignment);
        }
    }

    private enum Phase
    {
        Declaring,
        WritingData,
        Completed,
    }

    /// <summary>Alignment of tensor data.</summary>
    public int Alignment { get; }

    /// <summary>Metadata entries added so far.</summary>
    public int MetadataCount => keys.Count;

    /// <summary>Tensors declared so far.</summary>
    public int TensorCount => tensors.Count;

    /// <summary>Bytes handed to the output so far, header included (excludes the not yet flushed chunk).</summary>
    public long BytesWritten { get; private set; }

    /// <summary>Bytes accepted so far (header and tensor data), including the chunk not yet flushed.</summary>
    public long BytesAccepted => BytesWritten + buffered;

    /// <summary>The size the finished file will have; known once <see cref="WriteHeader"/> has run.</summary>
    public long TotalLength { get; private set; }

    /// <summary>The tensor whose bytes are expected next, or null when none is.</summary>
    public string? CurrentTensor => phase == Phase.WritingData && current < tensors.Count ? tensors[current].Name : null;

    /// <summary>Bytes of <see cref="CurrentTensor"/> still to write.</summary>
    public long CurrentTensorRemaining => currentRemaining;

    /// <summary>Declares a tensor; its data is written later, in declaration order.</summary>
    /// <returns>The tensor's data size in bytes.</returns>
    public long AddTensor(string name, ReadOnlySpan<long> dimensions, GgmlType type)
    {
        RequirePhase(Phase.Declaring);
        ArgumentException.ThrowIfNullOrEmpty(name);
        var nameBytes = Encoding.UTF8.GetByteCount(name);
        if (nameBytes > GgufFormat.MaxTensorNameBytes)
        {
            throw new ArgumentException($"Tensor name '{name}' is {nameBytes} bytes; ggml allows at most {GgufFormat.MaxTensorNameBytes}.", nameof(name));
        }

        if (dimensions.Length is 0 or > GgufFormat.MaxDimensions)
        {
            throw new ArgumentException($"Tensor '{name}' has {dimensions.Length} dimensions; 1 to {GgufFormat.MaxDimensions} are allowed.", nameof(dimensions));
        }

        long elements = 1;
        foreach (var d in dimensions)
        {
            if (d <= 0 || elements > long.MaxValue / d)
            {
                throw new ArgumentException($"Tensor '{name}' has an invalid shape [{string.Join(", ", dimensions.ToArray())}].", nameof(dimensions));
            }

            elements *= d;
        }

        var info = GgmlTypeTraits.Get(type);
        if (!GgmlTypeTraits.TryGetByteSize(type, dimensions[0], elements, out var size))
        {
            throw new ArgumentException($"Tensor '{name}' rows of {dimensions[0]} elements are not a multiple of the {info.Name} block size {info.BlockSize}.", nameof(dimensions));
        }

        if (!tensorNames.Add(name))
        {
            throw new ArgumentException($"Tensor '{name}' is already declared.", nameof(name));
        }

        tensors.Add(new PendingTensor(name, dimensions.ToArray(), type, dataSize, size));
        dataSize += GgufFormat.Align(size, Alignment);
        return size;
    }

    /// <summary>Writes the header, the metadata and the tensor index; afterwards only tensor data is accepted.</summary>
    public void WriteHeader()
    {
        RequirePhase(Phase.Declaring);
        Span<byte> fixedHeader = stackalloc byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(fixedHeader, GgufFormat.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(fixedHeader[4..], GgufFormat.CurrentVersion);
        BinaryPrimitives.WriteUInt64LittleEndian(fixedHeader[8..], (ulong)tensors.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(fixedHeader[16..], (ulong)keys.Count);
        Put(fixedHeader);
        Put(metadata.WrittenSpan);
        metadata.Clear();

        Span<byte> scratch = stackalloc byte[8];
        foreach (var tensor in tensors)
        {
            PutString(Encoding.UTF8.GetBytes(tensor.Name));
            BinaryPrimitives.WriteUInt32LittleEndian(scratch, (uint)tensor.Dimensions.Length);
            Put(scratch[..4]);
            foreach (var d in tensor.Dimensions)
            {
                BinaryPrimitives.WriteInt64LittleEndian(scratch, d);
                Put(scratch);
            }

            BinaryPrimitives.WriteUInt32LittleEndian(scratch, (uint)tensor.Type);
            Put(scratch[..4]);
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, (ulong)tensor.Offset);
            Put(scratch);
        }

        if (tensors.Count > 0)
        {
            PutZeros(GgufFormat.Align(BytesAccepted, Alignment) - BytesAccepted);
        }

        TotalLength = BytesAccepted + dataSize;
        phase = Phase.WritingData;
        current = 0;
        currentRemaining = tensors.Count > 0 ? tensors[0].Size : 0;
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0) => GetMemory(sizeHint).Span;

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        RequireData();
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        if (buffer.Length - buffered < Math.Max(sizeHint, 1))
        {
            FlushBuffer();
            if (buffer.Length < sizeHint)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = ArrayPool<byte>.Shared.Rent(sizeHint);
            }
        }

        return buffer.AsMemory(buffered);
    }

    /// <summary>
    /// Commits <paramref name="count"/> bytes written into the span from <see cref="GetSpan"/>. A call may not
    /// run past the end of the current tensor; when a tensor is complete its padding follows automatically.
    /// </summary>
    public void Advance(int count)
    {
        RequireData();
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > buffer.Length - buffered)
        {
            throw new InvalidOperationException($"Advance({count}) is past the {buffer.Length - buffered} bytes obtained from GetSpan.");
        }

        if (count > currentRemaining)
        {
            throw new InvalidOperationException($"Advance({count}) runs past the end of tensor '{CurrentTensor}' ({currentRemaining} bytes left).");
        }

        buffered += count;
        currentRemaining -= count;
        if (currentRemaining == 0 && count > 0)
        {
            FinishTensor();
        }
    }

    /// <summary>Appends bytes of the current tensor (copied into the pending chunk); they may not run past its end.</summary>
    public void WriteTensorData(ReadOnlySpan<byte> data)
    {
        RequireData();
        if (data.Length > currentRemaining)
        {
            throw new InvalidOperationException($"{data.Length} bytes run past the end of tensor '{CurrentTensor}' ({currentRemaining} bytes left).");
        }

        while (!data.IsEmpty)
        {
            var span = GetSpan(1);
            var n = (int)Math.Min(Math.Min(span.Length, data.Length), currentRemaining);
            data[..n].CopyTo(span);
            Advance(n);
            data = data[n..];
        }
    }

    /// <summary>Checks that every declared tensor was written in full and flushes everything to the output.</summary>
    public void Complete()
    {
        if (phase == Phase.Declaring)
        {
            WriteHeader();
        }

        RequirePhase(Phase.WritingData);
        if (current < tensors.Count)
        {
            throw new InvalidOperationException(
                $"Tensor '{tensors[current].Name}' is missing {currentRemaining} bytes; {tensors.Count - current} tensor(s) are incomplete.");
        }

        FlushBuffer();
        output.Flush();
        phase = Phase.Completed;
    }

    /// <summary>Releases the chunk buffer and, unless asked to leave it open, the output stream.</summary>
    public void Dispose()
    {
        if (buffer.Length != 0)
        {
            ArrayPool<byte>.Shared.Return(buffer);
            buffer = [];
        }

        if (!leaveOpen)
        {
            output.Dispose();
        }
    }

    private void FinishTensor()
    {
        var tensor = tensors[current];
        PutZeros(GgufFormat.Align(tensor.Size, Alignment) - tensor.Size);
        current++;
        currentRemaining = current < tensors.Count ? tensors[current].Size : 0;
    }

    private void Put(ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            if (buffered == buffer.Length)
            {
                FlushBuffer();
            }

            var n = Math.Min(bytes.Length, buffer.Length - buffered);
            bytes[..n].CopyTo(buffer.AsSpan(buffered));
            buffered += n;
            bytes = bytes[n..];
        }
    }

    private void PutZeros(long count)
    {
        Span<byte> zeros = stackalloc byte[64];
        zeros.Clear();
        while (count > 0)
        {
            var n = (int)Math.Min(count, zeros.Length);
            Put(zeros[..n]);
            count -= n;
        }
    }

    private void PutString(ReadOnlySpan<byte> utf8)
    {
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)utf8.Length);
        Put(length);
        Put(utf8);
    }

    private void FlushBuffer()
    {
        if (buffered > 0)
        {
            output.Write(buffer, 0, buffered);
            BytesWritten += buffered;
            buffered = 0;
        }
    }

    private void RequirePhase(Phase expected)
    {
        ObjectDisposedException.ThrowIf(buffer.Length == 0, this);
        if (phase != expected)
        {
            throw new InvalidOperationException(phase switch
            {
                Phase.Declaring => "The header has not been written yet (call WriteHeader).",
                Phase.WritingData => "The header is already written: metadata and tensors can no longer be added.",
                _ => "The file is already complete.",
            });
        }
    }

    private void RequireData()
    {
        RequirePhase(Phase.WritingData);
        if (current >= tensors.Count)
        {
            throw new InvalidOperationException("Every declared tensor has already been written in full.");
        }
    }

    private sealed record PendingTensor(string Name, long[] Dimensions, GgmlType Type, long Offset, long Size);
}
