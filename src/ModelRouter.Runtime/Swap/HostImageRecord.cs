using System.Globalization;

namespace ModelRouter.Runtime.Swap;

/// <summary>
/// The identity of a pinned host image that a CUDA store leaves in its cache directory (tmpfs: it outlives the
/// process, not a reboot). A later process adopts the image instead of reading the GGUF's tensor data only when every
/// field matches: the same source file (path, length, last write), the same llama.cpp, the same chunking and GPU
/// layers, and the image file's length. The layout hash is checked again by the shim once the new load has
/// allocated its buffers. Kept as plain "key=value" lines: no reflection, so it survives a trimmed publish.
/// </summary>
public sealed record HostImageRecord(
    string SourcePath,
    long SourceBytes,
    long SourceLastWriteUtcTicks,
    string LlamaCommit,
    long ChunkBytes,
    int GpuLayers,
    long ImageBytes,
    ulong LayoutHash)
{
    private const string Header = "modelrouter-host-image 1";

    /// <summary>The record this process would write for <paramref name="sourcePath"/>, less the image's own figures.</summary>
    public static HostImageRecord Describe(string sourcePath, string llamaCommit, long chunkBytes, int gpuLayers)
    {
        var source = new FileInfo(Path.GetFullPath(sourcePath));
        return new HostImageRecord(source.FullName, source.Length, source.LastWriteTimeUtc.Ticks, llamaCommit, chunkBytes, gpuLayers, 0, 0);
    }

    /// <summary>True when <paramref name="other"/> was made from the same source by the same build and settings.</summary>
    public bool SameSourceAs(HostImageRecord other) =>
        other is not null
        && string.Equals(SourcePath, other.SourcePath, StringComparison.Ordinal)
        && SourceBytes == other.SourceBytes
        && SourceLastWriteUtcTicks == other.SourceLastWriteUtcTicks
        && string.Equals(LlamaCommit, other.LlamaCommit, StringComparison.Ordinal)
        && ChunkBytes == other.ChunkBytes
        && GpuLayers == other.GpuLayers;

    /// <summary>Writes atomically (a reader never sees half a record).</summary>
    public void Write(string path)
    {
        var text = string.Join('\n',
            Header,
            "source=" + SourcePath,
            "source_bytes=" + SourceBytes.ToString(CultureInfo.InvariantCulture),
            "source_last_write_utc_ticks=" + SourceLastWriteUtcTicks.ToString(CultureInfo.InvariantCulture),
            "llama_commit=" + LlamaCommit,
            "chunk_bytes=" + ChunkBytes.ToString(CultureInfo.InvariantCulture),
            "gpu_layers=" + GpuLayers.ToString(CultureInfo.InvariantCulture),
            "image_bytes=" + ImageBytes.ToString(CultureInfo.InvariantCulture),
            "layout_hash=" + LayoutHash.ToString("x16", CultureInfo.InvariantCulture)) + "\n";
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The record at <paramref name="path"/>, or null when it is missing, unreadable or malformed (then it is not trusted).</summary>
    public static HostImageRecord? TryRead(string path)
    {
        string[] lines;
        try
        {
            if (!File.Exists(path) || new FileInfo(path).Length > 64 * 1024)
            {
                return null;
            }

            lines = File.ReadAllLines(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        if (lines.Length == 0 || lines[0] != Header)
        {
            return null;
        }

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in lines.AsSpan(1))
        {
            var equals = line.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                fields[line[..equals]] = line[(equals + 1)..];
            }
        }

        return fields.TryGetValue("source", out var source)
            && TryLong(fields, "source_bytes", out var sourceBytes)
            && TryLong(fields, "source_last_write_utc_ticks", out var ticks)
            && fields.TryGetValue("llama_commit", out var commit)
            && TryLong(fields, "chunk_bytes", out var chunkBytes)
            && TryLong(fields, "gpu_layers", out var gpuLayers) && gpuLayers is >= int.MinValue and <= int.MaxValue
            && TryLong(fields, "image_bytes", out var imageBytes) && imageBytes > 0
            && fields.TryGetValue("layout_hash", out var hashText)
            && ulong.TryParse(hashText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hash)
            ? new HostImageRecord(source, sourceBytes, ticks, commit, chunkBytes, (int)gpuLayers, imageBytes, hash)
            : null;
    }

    private static bool TryLong(Dictionary<string, string> fields, string key, out long value)
    {
        value = 0;
        return fields.TryGetValue(key, out var text) && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);
    }
}
