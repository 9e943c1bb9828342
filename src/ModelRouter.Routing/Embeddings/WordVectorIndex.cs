using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ModelRouter.Routing.Embeddings;

/// <summary>
/// Word vectors keyed by <see cref="Text.WordTokenizer"/> hashes: an open-addressing table (power-of-two capacity,
/// load at most one half, linear probing) of 64-bit keys to row numbers, and the rows as float32. The arrays are
/// either the classifier file's mapped sections or pinned arrays built by the trainer, so lookups are pointer reads.
/// Full 64-bit keys make a false match between two words about as likely as a 2^-64 accident, so words themselves
/// are not stored.
/// </summary>
public sealed unsafe class WordVectorIndex : IEmbeddingSource
{
    private readonly ulong* keys;
    private readonly int* rows;
    private readonly float* vectors;
    private readonly int mask;
    private readonly object? owner;

    internal WordVectorIndex(ulong* keys, int* rows, int capacity, float* vectors, int rowCount, int dimensions, string description, object? owner)
    {
        if (capacity <= 0 || (capacity & (capacity - 1)) != 0)
        {
            throw new ArgumentException("The capacity must be a power of two.", nameof(capacity));
        }

        this.keys = keys;
        this.rows = rows;
        this.vectors = vectors;
        this.owner = owner;
        mask = capacity - 1;
        Capacity = capacity;
        RowCount = rowCount;
        Dimensions = dimensions;
        Description = description;
    }

    public int Dimensions { get; }

    public string Description { get; }

    /// <summary>Slots in the key table.</summary>
    public int Capacity { get; }

    /// <summary>Stored rows (words).</summary>
    public int RowCount { get; }

    internal ulong* Keys => keys;

    internal int* Rows => rows;

    internal float* Vectors => vectors;

    /// <summary>The key a hash is stored under (0 marks an empty slot, so a hash of 0 is stored as 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong KeyOf(ulong hash) => hash == 0 ? 1 : hash;

    /// <summary>The smallest power-of-two capacity that keeps the load at or under one half.</summary>
    public static int CapacityFor(int count)
    {
        var capacity = 16;
        while (capacity < count * 2)
        {
            capacity <<= 1;
        }

        return capacity;
    }

    /// <summary>Builds an index over pinned arrays (the trainer's path; the classifier maps the same layout from its file).</summary>
    public static WordVectorIndex Build(ReadOnlySpan<ulong> wordHashes, ReadOnlySpan<float> rowData, int dimensions, string description)
    {
        var count = wordHashes.Length;
        if (rowData.Length != (long)count * dimensions)
        {
            throw new ArgumentException($"Expected {count} rows of {dimensions} floats.", nameof(rowData));
        }

        var capacity = CapacityFor(count);
        var keyArray = GC.AllocateArray<ulong>(capacity, pinned: true);
        var rowArray = GC.AllocateArray<int>(capacity, pinned: true);
        var vectorArray = GC.AllocateUninitializedArray<float>(Math.Max(1, rowData.Length), pinned: true);
        rowData.CopyTo(vectorArray);
        Fill(wordHashes, keyArray, rowArray);
        var owner = new object[] { keyArray, rowArray, vectorArray };
        fixed (ulong* k = keyArray)
        fixed (int* r = rowArray)
        fixed (float* v = vectorArray)
        {
            // Pinned-heap arrays never move, so the pointers stay valid after the fixed blocks; owner keeps them alive.
            return new WordVectorIndex(k, r, capacity, v, count, dimensions, description, owner);
        }
    }

    /// <summary>Writes the key and row tables for <paramref name="wordHashes"/> (row i is word i). Duplicates keep the first.</summary>
    public static void Fill(ReadOnlySpan<ulong> wordHashes, Span<ulong> keyTable, Span<int> rowTable)
    {
        var tableMask = keyTable.Length - 1;
        keyTable.Clear();
        rowTable.Clear();
        for (var i = 0; i < wordHashes.Length; i++)
        {
            var key = KeyOf(wordHashes[i]);
            var slot = (int)(key & (ulong)tableMask);
            while (keyTable[slot] != 0 && keyTable[slot] != key)
            {
                slot = (slot + 1) & tableMask;
            }

            if (keyTable[slot] == 0)
            {
                keyTable[slot] = key;
                rowTable[slot] = i;
            }
        }
    }

    /// <summary>Row number of the word with this hash, or -1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Find(ulong hash)
    {
        var key = KeyOf(hash);
        var slot = (int)(key & (ulong)mask);
        while (true)
        {
            var k = keys[slot];
            if (k == key)
            {
                return rows[slot];
            }

            if (k == 0)
            {
                return -1;
            }

            slot = (slot + 1) & mask;
        }
    }

    /// <summary>The vector of row <paramref name="row"/> (valid while this index is alive).</summary>
    public ReadOnlySpan<float> GetRow(int row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, RowCount);
        return new ReadOnlySpan<float>(vectors + ((long)row * Dimensions), Dimensions);
    }

    /// <summary>
    /// For rows that hold projected scores (two halves of <c>sum.Length</c> floats: instruction, passage): adds the mean
    /// of half <paramref name="half"/> of the rows of the known words into <paramref name="sum"/>.
    /// </summary>
    /// <returns>How many words were found.</returns>
    internal int AccumulateProjectedMean(ReadOnlySpan<ulong> wordHashes, int maxTokens, int half, Span<float> sum)
    {
        var width = sum.Length;
        var limit = Math.Min(maxTokens, wordHashes.Length);
        if (width == 8)
        {
            return AccumulateProjectedMean8(wordHashes[..limit], half, sum);
        }

        Span<float> total = stackalloc float[width];
        total.Clear();
        var found = 0;
        for (var i = 0; i < limit; i++)
        {
            var row = Find(wordHashes[i]);
            if (row >= 0)
            {
                TensorPrimitives.Add(total, new ReadOnlySpan<float>(vectors + ((long)row * Dimensions) + (half * width), width), total);
                found++;
            }
        }

        if (found > 0)
        {
            TensorPrimitives.MultiplyAdd(total, 1f / found, sum, sum);
        }

        GC.KeepAlive(owner);
        return found;
    }

    /// <summary>The common case (up to 8 labels): one 256-bit add per word.</summary>
    private int AccumulateProjectedMean8(ReadOnlySpan<ulong> wordHashes, int half, Span<float> sum)
    {
        var total = Vector256<float>.Zero;
        var found = 0;
        var halfOffset = half * 8;
        foreach (var hash in wordHashes)
        {
            var row = Find(hash);
            if (row >= 0)
            {
                total += Vector256.Load(vectors + ((long)row * Dimensions) + halfOffset);
                found++;
            }
        }

        if (found > 0)
        {
            ref var target = ref MemoryMarshal.GetReference(sum);
            (Vector256.LoadUnsafe(ref target) + (total * (1f / found))).StoreUnsafe(ref target);
        }

        GC.KeepAlive(owner);
        return found;
    }

    public int AccumulateRows(ReadOnlySpan<char> text, ReadOnlySpan<ulong> wordHashes, int maxTokens, Span<float> sum)
    {
        var added = 0;
        var limit = Math.Min(maxTokens, wordHashes.Length);
        var dims = Dimensions;
        for (var i = 0; i < limit; i++)
        {
            var row = Find(wordHashes[i]);
            if (row >= 0)
            {
                TensorPrimitives.Add(sum, new ReadOnlySpan<float>(vectors + ((long)row * dims), dims), sum);
                added++;
            }
        }

        GC.KeepAlive(owner);
        return added;
    }
}
