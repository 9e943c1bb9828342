using System.Buffers.Binary;
using System.IO.MemoryMappedFiles;
using System.Numerics.Tensors;
using System.Text;
using ModelRouter.Routing.Text;

namespace ModelRouter.Routing.Embeddings;

/// <summary>
/// The converted GloVe table that build/glove-source.sh writes (MRWV v1: words in frequency order, float16 rows;
/// layout in build/glove-convert.js and docs/routing.md). Only the trainer reads it: it copies the rows a classifier
/// needs into the classifier file, so serving never touches this 68 MB table.
/// </summary>
public sealed unsafe class WordVectorFile : IDisposable
{
    /// <summary>Where build.sh puts the table, relative to the repository root.</summary>
    public const string DefaultRelativePath = "artifacts/glove/glove-6b-100d.mrwv";

    /// <summary>Environment variable that names the table's path explicitly.</summary>
    public const string PathVariable = "MODELROUTER_GLOVE";

    private const uint Magic = 0x5657524D; // "MRWV"
    private const uint Version = 1;
    private const uint Float16Rows = 1;
    private const int HeaderSize = 64;

    private readonly MemoryMappedFile map;
    private readonly MemoryMappedViewAccessor view;
    private readonly Half* rows;
    private readonly Dictionary<ulong, int> byHash;

    private WordVectorFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, byte* basePointer, long length)
    {
        FilePath = path;
        this.map = map;
        this.view = view;
        var header = new ReadOnlySpan<byte>(basePointer, (int)Math.Min(length, HeaderSize));
        if (header.Length < HeaderSize || BinaryPrimitives.ReadUInt32LittleEndian(header) != Magic)
        {
            throw new InvalidDataException($"{path} is not a word-vector table (no MRWV header); rebuild it with build/glove-source.sh.");
        }

        var version = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (version != Version)
        {
            throw new InvalidDataException($"{path} has MRWV version {version}; this build reads version {Version}. Rebuild it with build/glove-source.sh.");
        }

        var count = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        Dimensions = BinaryPrimitives.ReadInt32LittleEndian(header[12..]);
        var rowType = BinaryPrimitives.ReadUInt32LittleEndian(header[16..]);
        var wordsOffset = BinaryPrimitives.ReadInt64LittleEndian(header[24..]);
        var wordsLength = BinaryPrimitives.ReadInt64LittleEndian(header[32..]);
        var rowsOffset = BinaryPrimitives.ReadInt64LittleEndian(header[40..]);
        var rowsLength = BinaryPrimitives.ReadInt64LittleEndian(header[48..]);
        if (count <= 0 || Dimensions is <= 0 or > 4096 || rowType != Float16Rows
            || wordsOffset < HeaderSize || wordsLength < 0 || wordsOffset + wordsLength > length
            || rowsOffset < wordsOffset + wordsLength || rowsLength != (long)count * Dimensions * 2 || rowsOffset + rowsLength > length)
        {
            throw new InvalidDataException($"{path} has an inconsistent MRWV header (count {count}, dims {Dimensions}, row type {rowType}); rebuild it with build/glove-source.sh.");
        }

        rows = (Half*)(basePointer + rowsOffset);
        var words = new string[count];
        byHash = new Dictionary<ulong, int>(count);
        var cursor = new ReadOnlySpan<byte>(basePointer + wordsOffset, checked((int)wordsLength));
        for (var i = 0; i < count; i++)
        {
            if (cursor.Length < 2)
            {
                throw new InvalidDataException($"{path}: the word list ends after {i} of {count} words.");
            }

            var n = BinaryPrimitives.ReadUInt16LittleEndian(cursor);
            if (cursor.Length < 2 + n)
            {
                throw new InvalidDataException($"{path}: word {i} runs past the word list.");
            }

            words[i] = Encoding.UTF8.GetString(cursor.Slice(2, n));
            cursor = cursor[(2 + n)..];
            byHash.TryAdd(WordTokenizer.HashWord(words[i]), i);
        }

        Words = words;
    }

    public string FilePath { get; }

    public int Dimensions { get; }

    /// <summary>The words, most frequent first (GloVe's order).</summary>
    public IReadOnlyList<string> Words { get; }

    public int Count => Words.Count;

    /// <summary>Maps the table at <paramref name="path"/>.</summary>
    /// <exception cref="FileNotFoundException">No file there.</exception>
    /// <exception cref="InvalidDataException">The file is not a valid MRWV table.</exception>
    public static WordVectorFile Open(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists)
        {
            throw new FileNotFoundException($"No word-vector table at {path}; ./build.sh build (build/glove-source.sh) makes it.", path);
        }

        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        MemoryMappedViewAccessor? view = null;
        try
        {
            view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            return new WordVectorFile(path, map, view, pointer + view.PointerOffset, info.Length);
        }
        catch
        {
            if (view is not null)
            {
                view.SafeMemoryMappedViewHandle.ReleasePointer();
                view.Dispose();
            }

            map.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The table's path: <paramref name="explicitPath"/>, else $MODELROUTER_GLOVE, else the build's output under the
    /// first directory above <paramref name="searchFrom"/> that holds ModelRouter.Native.sln. Null when none exists.
    /// </summary>
    public static string? Locate(string? explicitPath = null, string? searchFrom = null)
    {
        if (!string.IsNullOrEmpty(explicitPath))
        {
            return explicitPath;
        }

        if (Environment.GetEnvironmentVariable(PathVariable) is { Length: > 0 } fromEnvironment)
        {
            return fromEnvironment;
        }

        foreach (var start in new[] { searchFrom, Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = string.IsNullOrEmpty(start) ? null : new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "ModelRouter.Native.sln")))
                {
                    var candidate = Path.Combine(dir.FullName, DefaultRelativePath);
                    if (File.Exists(candidate))
                    {
                        return candidate;
                    }

                    break;
                }
            }
        }

        return null;
    }

    /// <summary>Index of the word with this tokenizer hash, or -1.</summary>
    public int Find(ulong wordHash) => byHash.TryGetValue(wordHash, out var i) ? i : -1;

    /// <summary>Writes row <paramref name="index"/> as float32.</summary>
    public void GetRow(int index, Span<float> destination)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(rows + ((long)index * Dimensions), Dimensions), destination);
    }

    public void Dispose()
    {
        view.SafeMemoryMappedViewHandle.ReleasePointer();
        view.Dispose();
        map.Dispose();
    }
}
