using System.Diagnostics;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;

namespace ModelRouter.Cli.Benchmarks.Swap;

/// <summary>
/// The CPU path's physical reference: how fast this machine copies the model's bytes out of the page cache into
/// anonymous memory (one memcpy stream, 64 MiB chunks, best of three). On a GPU the reference is pinned
/// host-to-device cudaMemcpyAsync instead.
/// </summary>
internal static unsafe class HostCopyReference
{
    private const int ChunkBytes = 64 << 20;

    public static double MeasureGigabytesPerSecond(string path)
    {
        var length = new FileInfo(path).Length;
        using var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
        using var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        byte* source = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref source);
        var destination = (byte*)NativeMemory.Alloc((nuint)length);
        try
        {
            source += view.PointerOffset;
            Copy(source, destination, length); // faults both sides in once
            var best = double.MaxValue;
            for (var i = 0; i < 3; i++)
            {
                var start = Stopwatch.GetTimestamp();
                Copy(source, destination, length);
                best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
            }

            return length / best / 1e9;
        }
        finally
        {
            NativeMemory.Free(destination);
            view.SafeMemoryMappedViewHandle.ReleasePointer();
        }
    }

    private static void Copy(byte* source, byte* destination, long length)
    {
        for (long offset = 0; offset < length; offset += ChunkBytes)
        {
            var n = Math.Min(ChunkBytes, length - offset);
            Buffer.MemoryCopy(source + offset, destination + offset, n, n);
        }
    }
}
