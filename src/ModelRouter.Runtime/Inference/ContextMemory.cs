using System.Globalization;
using System.Text.RegularExpressions;

namespace ModelRouter.Runtime.Inference;

/// <summary>Where a context's byte figures come from.</summary>
public enum ContextMemorySource
{
    /// <summary>llama.cpp's own buffer sizes, as it reports them while creating the context (to 0.01 MiB each).</summary>
    LlamaCpp,

    /// <summary>No buffer size was reported: the process's RSS growth around the creation (an estimate, in ComputeBytes).</summary>
    RssEstimate,
}

/// <summary>
/// The memory a llama.cpp context holds besides the model's weights: its KV cache (or recurrent state), its output
/// buffer (logits, embeddings) and its compute buffers (the scheduler's graph allocation, sized for the worst-case
/// batch when the context is created). On a CPU build all of it is host memory.
/// </summary>
public sealed partial record ContextMemory(long KvBytes, long OutputBytes, long ComputeBytes, ContextMemorySource Source)
{
    public long TotalBytes => KvBytes + OutputBytes + ComputeBytes;

    /// <summary>
    /// Sums the buffer sizes llama.cpp logs while creating a context ("CPU KV buffer size = 1.50 MiB", "output buffer
    /// size", "compute buffer size", "RS buffer size"); null when none of them was logged.
    /// </summary>
    internal static ContextMemory? FromLlamaLog(IEnumerable<string> lines)
    {
        long kv = 0, output = 0, compute = 0;
        var found = false;
        foreach (var line in lines)
        {
            var match = BufferLine().Match(line);
            if (!match.Success)
            {
                continue;
            }

            var bytes = (long)Math.Round(double.Parse(match.Groups["mib"].Value, CultureInfo.InvariantCulture) * 1024 * 1024);
            switch (match.Groups["kind"].Value)
            {
                case "output":
                    output += bytes;
                    break;
                case "compute":
                    compute += bytes;
                    break;
                default: // KV, RS (recurrent state) and the like: the model's memory of past tokens
                    kv += bytes;
                    break;
            }

            found = true;
        }

        return found ? new ContextMemory(kv, output, compute, ContextMemorySource.LlamaCpp) : null;
    }

    [GeneratedRegex(@"\s(?<kind>KV|RS|output|compute) buffer size =\s*(?<mib>[0-9]+(\.[0-9]+)?) MiB", RegexOptions.CultureInvariant)]
    private static partial Regex BufferLine();
}

/// <summary>The process's resident set, from /proc/self/statm (Linux); null elsewhere.</summary>
internal static class ProcessMemory
{
    public static long? ResidentBytes()
    {
        try
        {
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
