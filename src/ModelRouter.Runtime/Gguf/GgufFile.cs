using System.IO.MemoryMappedFiles;

namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// A GGUF file mapped read-only into memory, with its header, metadata and tensor index parsed and validated.
/// Tensor data is never copied: <see cref="GetTensorData(GgufTensorInfo)"/> returns spans over the mapping.
/// </summary>
/// <remarks>
/// The instance owns the mapping: spans and pointers it hands out are valid until <see cref="Dispose"/> and must
/// not be used after it. Opening validates the whole index (see <see cref="GgufParser"/>); any problem, a
/// missing or unreadable file included, raises <see cref="InvalidModelFileException"/>. The file must not be
/// truncated by another process while it is mapped (the OS would fault on the missing pages).
/// </remarks>
public sealed unsafe partial class GgufFile : IDisposable
{
    private readonly MemoryMappedFile? mapping;
    private readonly MemoryMappedViewAccessor? view;
    private readonly GgufLayout layout;
    private byte* basePointer;

    private GgufFile(string path, long length, MemoryMappedFile? mapping, MemoryMappedViewAccessor? view, byte* basePointer, GgufLayout layout)
    {
        FilePath = path;
        FileLength = length;
        this.mapping = mapping;
        this.view = view;
        this.basePointer = basePointer;
        this.layout = layout;
    }

    /// <summary>The path the file was opened with.</summary>
    public string FilePath { get; }

    /// <summary>Size of the file in bytes when it was opened.</summary>
    public long FileLength { get; }

    /// <summary>The GGUF version (2 or 3).</summary>
    public uint Version => layout.Version;

    /// <summary>Alignment of tensor data: <c>general.alignment</c> or 32.</summary>
    public long Alignment => layout.Alignment;

    /// <summary>Absolute offset where the tensor data section starts.</summary>
    public long DataOffset => layout.DataOffset;

    /// <summary>Metadata entries in file order.</summary>
    public IReadOnlyList<GgufMetadataEntry> Metadata => layout.Metadata;

    /// <summary>Tensor index entries in file order, with absolute offsets and byte sizes.</summary>
    public IReadOnlyList<GgufTensorInfo> Tensors => layout.Tensors;

    /// <summary>The first key holding an array of arrays, if any (llama.cpp cannot load such files).</summary>
    internal string? FirstNestedArrayKey => layout.FirstNestedArrayKey;

    /// <summary>Maps and validates a GGUF file.</summary>
    /// <exception cref="InvalidModelFileException">
    /// The file is missing, unreadable or malformed; the message names the file and the problem.
    /// </exception>
    public static GgufFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1, FileOptions.RandomAccess);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException or ArgumentException)
        {
            var problem = ex is FileNotFoundException or DirectoryNotFoundException
                ? "the file does not exist"
                : "the file cannot be opened for reading: " + ex.Message;
            throw new InvalidModelFileException(path, problem, ex);
        }

        MemoryMappedFile? mapping = null;
        MemoryMappedViewAccessor? view = null;
        var acquired = false;
        try
        {
            var length = stream.Length;
            if (length == 0)
            {
                // A zero-length file cannot be mapped; report it as what it is.
                throw new InvalidModelFileException(path, "the file is empty (0 bytes), too short for the GGUF magic");
            }

            mapping = MemoryMappedFile.CreateFromFile(stream, mapName: null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = mapping.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            acquired = true;
            pointer += view.PointerOffset;

            var parsed = GgufParser.Parse(pointer, length, path);
            return new GgufFile(path, length, mapping, view, pointer, parsed);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Release(acquired, view, mapping, stream);
            throw new InvalidModelFileException(path, "the file cannot be mapped for reading: " + ex.Message, ex);
        }
        catch
        {
            Release(acquired, view, mapping, stream);
            throw;
        }
    }

    /// <summary>Looks up a metadata entry by key.</summary>
    public bool TryGetMetadata(string key, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GgufMetadataEntry? entry) =>
        layout.MetadataByKey.TryGetValue(key, out entry);

    /// <summary>Looks up a tensor by name.</summary>
    public bool TryGetTensor(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out GgufTensorInfo? tensor) =>
        layout.TensorsByName.TryGetValue(name, out tensor);

    /// <summary>The bytes of a tensor, without copying. Valid until the file is disposed.</summary>
    /// <exception cref="ArgumentException">The tensor is not from this file.</exception>
    /// <exception cref="NotSupportedException">The tensor is 2 GiB or larger: use <see cref="GetTensorData(GgufTensorInfo, long, int)"/>.</exception>
    public ReadOnlySpan<byte> GetTensorData(GgufTensorInfo tensor)
    {
        CheckOwned(tensor);
        if (tensor.ByteSize > int.MaxValue)
        {
            throw new NotSupportedException($"Tensor '{tensor.Name}' is {tensor.ByteSize} bytes, too large for one span; read it in slices.");
        }

        return new ReadOnlySpan<byte>(Base + tensor.AbsoluteOffset, (int)tensor.ByteSize);
    }

    /// <summary>A slice of a tensor's bytes, for tensors of any size. Valid until the file is disposed.</summary>
    public ReadOnlySpan<byte> GetTensorData(GgufTensorInfo tensor, long start, int length)
    {
        CheckOwned(tensor);
        ArgumentOutOfRangeException.ThrowIfNegative(start);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (start > tensor.ByteSize || length > tensor.ByteSize - start)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"[{start}, {start + length}) is outside tensor '{tensor.Name}' ({tensor.ByteSize} bytes).");
        }

        return new ReadOnlySpan<byte>(Base + tensor.AbsoluteOffset + start, length);
    }

    /// <summary>
    /// A pointer to a tensor's first byte in the mapping, for handing to native code. Valid for
    /// <see cref="GgufTensorInfo.ByteSize"/> bytes until the file is disposed; the memory is read-only.
    /// </summary>
    public byte* GetTensorPointer(GgufTensorInfo tensor)
    {
        CheckOwned(tensor);
        return Base + tensor.AbsoluteOffset;
    }

    /// <summary>Unmaps the file. Spans and pointers obtained from it must no longer be used.</summary>
    public void Dispose()
    {
        if (basePointer == null)
        {
            return;
        }

        basePointer = null;
        Release(acquired: true, view, mapping, stream: null);
    }

    internal byte* Base
    {
        get
        {
            ObjectDisposedException.ThrowIf(basePointer == null, this);
            return basePointer;
        }
    }

    private void CheckOwned(GgufTensorInfo tensor)
    {
        ArgumentNullException.ThrowIfNull(tensor);
        if (!layout.TensorsByName.TryGetValue(tensor.Name, out var own) || !ReferenceEquals(own, tensor))
        {
            throw new ArgumentException($"Tensor '{tensor.Name}' does not belong to {FilePath}.", nameof(tensor));
        }
    }

    private static void Release(bool acquired, MemoryMappedViewAccessor? view, MemoryMappedFile? mapping, FileStream? stream)
    {
        if (acquired)
        {
            view!.SafeMemoryMappedViewHandle.ReleasePointer();
        }

        view?.Dispose();
        mapping?.Dispose();
        stream?.Dispose();
    }
}
