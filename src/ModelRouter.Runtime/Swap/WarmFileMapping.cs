using System.IO.MemoryMappedFiles;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// A read-only mapping of a model file with every page touched once, so the file sits in the page cache and a
/// later load never waits for the disk. Keeps the file's identity to notice when it changes underneath.
/// </summary>
internal sealed unsafe class WarmFileMapping : IDisposable
{
    private const int PageSize = 4096;
    private const long ReportEvery = 64L << 20;

    private readonly MemoryMappedFile mapping;
    private readonly MemoryMappedViewAccessor view;

    private WarmFileMapping(MemoryMappedFile mapping, MemoryMappedViewAccessor view, FileIdentity identity)
    {
        this.mapping = mapping;
        this.view = view;
        Identity = identity;
    }

    public FileIdentity Identity { get; }

    /// <summary>Maps <paramref name="path"/> and reads one byte of every page (reporting progress, cancellable).</summary>
    public static WarmFileMapping Create(string path, IProgress<double>? progress, CancellationToken cancellation)
    {
        var identity = FileIdentity.Of(path);
        var map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, mapName: null, 0, MemoryMappedFileAccess.Read);
        var accessor = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
        try
        {
            TouchEveryPage(accessor, identity.Length, progress, cancellation);
            return new WarmFileMapping(map, accessor, identity);
        }
        catch
        {
            accessor.Dispose();
            map.Dispose();
            throw;
        }
    }

    /// <summary>True when the file on disk is no longer the one that was warmed.</summary>
    public bool IsStale(string path) => !File.Exists(path) || FileIdentity.Of(path) != Identity;

    public void Dispose()
    {
        view.Dispose();
        mapping.Dispose();
    }

    private static void TouchEveryPage(MemoryMappedViewAccessor accessor, long length, IProgress<double>? progress, CancellationToken cancellation)
    {
        byte* start = null;
        var handle = accessor.SafeMemoryMappedViewHandle;
        handle.AcquirePointer(ref start);
        try
        {
            start += accessor.PointerOffset;
            var sum = 0;
            for (long offset = 0; offset < length; offset += PageSize)
            {
                sum += Volatile.Read(ref start[offset]); // a read faults the page into the page cache
                if (offset % ReportEvery == 0)
                {
                    cancellation.ThrowIfCancellationRequested();
                    progress?.Report((double)offset / length);
                }
            }

            GC.KeepAlive(sum);
            progress?.Report(1.0);
        }
        finally
        {
            handle.ReleasePointer();
        }
    }
}

/// <summary>Size and modification time: enough to notice a model file replaced on disk.</summary>
internal readonly record struct FileIdentity(long Length, DateTime LastWriteUtc)
{
    public static FileIdentity Of(string path)
    {
        var info = new FileInfo(path);
        return new FileIdentity(info.Length, info.LastWriteTimeUtc);
    }
}
