using System.Buffers;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Microsoft.Win32.SafeHandles;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// What a model file was when the pool registered it (or last reloaded it): its size, last write time, device and
/// inode (Linux; elsewhere 0), and a content check. The content check is a SHA-256 over <see cref="SampleBlocks"/>
/// blocks of <see cref="BlockBytes"/> bytes: the first (the GGUF header and the start of its metadata), the last (the
/// end of the last tensor's data) and the others spread evenly between, so at most 1 MiB is read whatever the file's
/// size. It catches a file rewritten in place with the same size and a preserved mtime wherever a sampled block
/// differs; a change confined to bytes between the samples, with size, mtime and inode all kept, goes unnoticed.
/// </summary>
/// <remarks>
/// Two levels: <see cref="Stat"/> (one <c>statx</c>, no read: size, mtime, device, inode) is cheap enough for every
/// acquire; <see cref="Capture"/> and a thorough <see cref="DescribeChange"/> add the content check and run before any
/// read of the file (cold load, reload). The content is hashed through one open handle, stat'ed before and after the
/// reads, so a file that changes while it is sampled is never recorded as the old one.
/// </remarks>
public sealed record ModelFileIdentity(string Path, long Length, long LastWriteUnixNanoseconds, ulong Device, ulong Inode, string ContentCheck)
{
    /// <summary>Bytes of each sampled block.</summary>
    public const int BlockBytes = 64 * 1024;

    /// <summary>Blocks sampled by the content check (first, last, and evenly spread between).</summary>
    public const int SampleBlocks = 16;

    /// <summary>The file's last write time, for messages.</summary>
    public DateTime LastWriteUtc => DateTime.UnixEpoch.AddTicks(LastWriteUnixNanoseconds / 100);

    /// <summary>
    /// What every weight store does at registration and before a reload: the file validated for llama.cpp, its identity
    /// recorded, and the weights' size from its tensor index (a store refines it after the first load).
    /// </summary>
    /// <exception cref="InvalidModelFileException">The file is not a model llama.cpp can load.</exception>
    public static (ModelFileIdentity Identity, long TensorBytes) ValidateAndCapture(string path)
    {
        long tensorBytes;
        using (var file = Gguf.GgufFile.Open(path))
        {
            Gguf.GgufValidator.CheckLlamaCppRules(file);
            tensorBytes = file.Tensors.Sum(t => t.ByteSize);
        }

        return (Capture(path), tensorBytes);
    }

    /// <summary>Stats and samples <paramref name="path"/>.</summary>
    /// <exception cref="InvalidModelFileException">The file is missing or unreadable, or changed while it was sampled.</exception>
    public static ModelFileIdentity Capture(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var before = FileStat.Of(handle, path);
            var content = HashSamples(handle, before.Length);
            var after = FileStat.Of(handle, path);
            if (before != after)
            {
                throw new InvalidModelFileException(path, "the file changed while its identity was being read (is it still being written?)");
            }

            return new ModelFileIdentity(path, before.Length, before.LastWriteUnixNanoseconds, before.Device, before.Inode, content);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new InvalidModelFileException(path, "the file does not exist", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new InvalidModelFileException(path, "the file cannot be read: " + ex.Message, ex);
        }
    }

    /// <summary>Size, mtime, device and inode of <paramref name="path"/> (one statx on Linux); null when it does not exist.</summary>
    public static FileStat? Stat(string path) => FileStat.TryOf(path);

    /// <summary>
    /// What changed since this identity was recorded, in words that name the file; null when nothing did.
    /// <paramref name="thorough"/> adds the content check (reads up to 1 MiB); otherwise one stat.
    /// </summary>
    public string? DescribeChange(bool thorough)
    {
        if (FileStat.TryOf(Path) is not { } now)
        {
            return $"its file '{Path}' no longer exists";
        }

        var changes = new List<string>(4);
        if (now.Length != Length)
        {
            changes.Add(string.Create(CultureInfo.InvariantCulture, $"size {Length:N0} → {now.Length:N0} bytes{(now.Length < Length ? " (truncated)" : "")}"));
        }

        if (now.Device != Device || now.Inode != Inode)
        {
            changes.Add(string.Create(CultureInfo.InvariantCulture, $"inode {Device}:{Inode} → {now.Device}:{now.Inode} (another file now has its name)"));
        }

        if (now.LastWriteUnixNanoseconds != LastWriteUnixNanoseconds)
        {
            changes.Add($"last written {LastWriteUtc:O} → {DateTime.UnixEpoch.AddTicks(now.LastWriteUnixNanoseconds / 100):O}");
        }

        if (changes.Count == 0 && thorough)
        {
            string? content;
            try
            {
                content = Capture(Path).ContentCheck;
            }
            catch (InvalidModelFileException ex)
            {
                return $"its file '{Path}' cannot be checked: {ex.Problem}";
            }

            if (!string.Equals(content, ContentCheck, StringComparison.Ordinal))
            {
                changes.Add($"content check differs ({SampleBlocks} sampled blocks of {BlockBytes / 1024} KiB; size, mtime and inode unchanged)");
            }
        }

        return changes.Count == 0 ? null : $"its file '{Path}' changed since it was loaded: {string.Join("; ", changes)}";
    }

    /// <summary>True when <paramref name="stat"/> has this identity's size, mtime, device and inode.</summary>
    public bool SameStat(FileStat stat) =>
        stat.Length == Length && stat.LastWriteUnixNanoseconds == LastWriteUnixNanoseconds && stat.Device == Device && stat.Inode == Inode;

    private static string HashSamples(SafeFileHandle handle, long length)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(BlockBytes);
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            Span<byte> lengthBytes = stackalloc byte[sizeof(long)];
            BitConverter.TryWriteBytes(lengthBytes, length);
            hash.AppendData(lengthBytes);
            foreach (var offset in SampleOffsets(length))
            {
                var wanted = (int)Math.Min(BlockBytes, length - offset);
                var read = 0;
                while (read < wanted)
                {
                    var n = RandomAccess.Read(handle, buffer.AsSpan(read, wanted - read), offset + read);
                    if (n == 0)
                    {
                        throw new IOException($"the file ended at {offset + read:N0} bytes while {length:N0} were expected");
                    }

                    read += n;
                }

                hash.AppendData(buffer, 0, wanted);
            }

            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Start offsets of the sampled blocks: the whole file when it is small, else first, last and evenly between.</summary>
    public static IEnumerable<long> SampleOffsets(long length)
    {
        if (length <= (long)BlockBytes * SampleBlocks)
        {
            for (long offset = 0; offset < length; offset += BlockBytes)
            {
                yield return offset;
            }

            yield break;
        }

        var last = length - BlockBytes;
        for (var i = 0; i < SampleBlocks; i++)
        {
            yield return last * i / (SampleBlocks - 1);
        }
    }
}

/// <summary>What one stat says about a file: size, last write (ns since the Unix epoch), device and inode (0 off Linux).</summary>
public readonly record struct FileStat(long Length, long LastWriteUnixNanoseconds, ulong Device, ulong Inode)
{
    internal static FileStat Of(SafeFileHandle handle, string path) =>
        OperatingSystem.IsLinux() && Statx.TryOf(handle) is { } stat ? stat : FromFileInfo(path);

    internal static FileStat? TryOf(string path)
    {
        if (OperatingSystem.IsLinux())
        {
            switch (Statx.TryOf(path, out var stat))
            {
                case Statx.Found:
                    return stat;
                case Statx.Missing:
                    return null;
            }
        }

        var info = new FileInfo(path);
        return info.Exists ? FromFileInfo(path) : null;
    }

    private static FileStat FromFileInfo(string path)
    {
        var info = new FileInfo(path);
        return new FileStat(info.Length, (info.LastWriteTimeUtc - DateTime.UnixEpoch).Ticks * 100, 0, 0);
    }
}

/// <summary>
/// Linux <c>statx(2)</c> through glibc (2.28+). Its <c>struct statx</c> has one layout on every architecture, unlike
/// <c>struct stat</c>, so the offsets below hold on x86-64 and arm64 alike. Where it is missing (musl without the
/// wrapper, old glibc) identities fall back to size and mtime only.
/// </summary>
internal static unsafe partial class Statx
{
    private const int AtFdcwd = -100;
    private const int AtEmptyPath = 0x1000;
    private const uint StatxBasicStats = 0x7ff;
    private const int BufferBytes = 256;
    private const int InodeOffset = 32;
    private const int SizeOffset = 40;
    private const int MtimeSecondsOffset = 112;
    private const int MtimeNanosecondsOffset = 120;
    private const int DevMajorOffset = 136;
    private const int DevMinorOffset = 140;

    private static int available = 1; // 1 until a call finds no entry point

    public static bool Available => Volatile.Read(ref available) == 1;

    public const int Found = 1;
    public const int Missing = 0;
    public const int Unavailable = -1;

    /// <summary><see cref="Found"/>, <see cref="Missing"/> (any failure of the call: gone, or not reachable), or <see cref="Unavailable"/> (no statx here).</summary>
    public static int TryOf(string path, out FileStat stat)
    {
        stat = default;
        if (!Available)
        {
            return Unavailable;
        }

        var buffer = stackalloc byte[BufferBytes];
        try
        {
            if (Call(AtFdcwd, path, 0, buffer) != 0)
            {
                return Missing;
            }

            stat = Read(buffer);
            return Found;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            Volatile.Write(ref available, 0);
            return Unavailable;
        }
    }

    public static FileStat? TryOf(SafeFileHandle handle)
    {
        if (!Available)
        {
            return null;
        }

        var buffer = stackalloc byte[BufferBytes];
        var added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            return Call((int)handle.DangerousGetHandle(), "", AtEmptyPath, buffer) == 0 ? Read(buffer) : null;
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            Volatile.Write(ref available, 0);
            return null;
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    private static FileStat Read(byte* buffer)
    {
        var inode = *(ulong*)(buffer + InodeOffset);
        var size = *(long*)(buffer + SizeOffset);
        var seconds = *(long*)(buffer + MtimeSecondsOffset);
        var nanoseconds = *(uint*)(buffer + MtimeNanosecondsOffset);
        var device = ((ulong)*(uint*)(buffer + DevMajorOffset) << 32) | *(uint*)(buffer + DevMinorOffset);
        return new FileStat(size, (seconds * 1_000_000_000L) + nanoseconds, device, inode);
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Call(int directory, string path, int flags, uint mask, byte* buffer);

    private static int Call(int directory, string path, int flags, byte* buffer) => Call(directory, path, flags, StatxBasicStats, buffer);
}
