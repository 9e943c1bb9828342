using System.Buffers;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// Cold → Warm before a model's first load: reads the file once, start to end, so its pages sit in the page cache and
/// the load that follows never waits for the disk. Reads, never maps: a mapping of a file that is truncated later
/// faults (SIGBUS, the process dies) on the next touch of a page past the new end, a read only comes back short.
/// Nothing is kept: the page cache is the kernel's, and the store checks the file's identity again before the load.
/// </summary>
internal static class PageCachePrimer
{
    private const int ChunkBytes = 1 << 20;
    private const long ReportEvery = 64L << 20;

    /// <summary>Reads <paramref name="path"/> through (reporting progress, cancellable); the bytes read, which is less
    /// than <paramref name="expectedLength"/> when the file shrank meanwhile.</summary>
    public static long Read(string path, long expectedLength, IProgress<double>? progress, CancellationToken cancellation)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.SequentialScan);
            long offset = 0;
            var nextReport = 0L;
            while (true)
            {
                var n = RandomAccess.Read(handle, buffer.AsSpan(0, ChunkBytes), offset);
                if (n == 0)
                {
                    break;
                }

                offset += n;
                if (offset >= nextReport)
                {
                    cancellation.ThrowIfCancellationRequested();
                    progress?.Report(expectedLength > 0 ? Math.Min(1.0, (double)offset / expectedLength) : 1.0);
                    nextReport += ReportEvery;
                }
            }

            progress?.Report(1.0);
            return offset;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
