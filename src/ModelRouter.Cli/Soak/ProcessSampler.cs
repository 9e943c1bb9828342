using System.Globalization;
using ModelRouter.Client;

namespace ModelRouter.Cli.Soak;

/// <summary>One look at the server process and its counters.</summary>
public sealed record ServerSample
{
    public required TimeSpan Elapsed { get; init; }

    /// <summary>Resident set (VmRSS of /proc/PID/status).</summary>
    public long RssBytes { get; init; }

    /// <summary>The anonymous part of the resident set (RssAnon): heaps and native allocations, not mapped files.</summary>
    public long RssAnonBytes { get; init; }

    /// <summary>GC heap size after the last collection, from /metrics; null when the server does not export it.</summary>
    public long? GcHeapBytes { get; init; }

    /// <summary>Threads of the process (/proc/PID/status).</summary>
    public int Threads { get; init; }

    /// <summary>Open file descriptors that are not sockets (files, pipes, eventfds, mappings kept open).</summary>
    public int Handles { get; init; }

    /// <summary>Open socket descriptors: listeners plus connections of both doors.</summary>
    public int Sockets { get; init; }

    /// <summary>Socket-door connections the server counts (stats frame); -1 when the stats could not be read.</summary>
    public int Connections { get; init; }

    public int InFlight { get; init; }

    public int Queued { get; init; }

    public long Swaps { get; init; }

    public long ServerRequests { get; init; }

    public long ServerErrors { get; init; }
}

/// <summary>
/// Samples the server from outside: /proc for memory, threads and descriptors (Linux), the HTTP door's Prometheus
/// /metrics for the GC heap (when the server exports the runtime's meter), the socket door's stats frame for
/// connections, requests and swaps.
/// </summary>
public sealed class ProcessSampler(int processId, Uri http, ModelRouterClient stats) : IDisposable
{
    /// <summary>Names under which an OpenTelemetry Prometheus exporter writes the GC heap (runtime meter, older instrumentation).</summary>
    private static readonly string[] GcHeapMetrics = ["dotnet_gc_last_collection_heap_size_bytes", "process_runtime_dotnet_gc_heap_size_bytes"];

    private readonly HttpClient metrics = new() { BaseAddress = http, Timeout = TimeSpan.FromSeconds(10) };

    public void Dispose() => metrics.Dispose();

    public async Task<ServerSample> SampleAsync(TimeSpan elapsed, CancellationToken cancellation)
    {
        var (rss, rssAnon, threads) = ReadStatus(processId);
        var (handles, sockets) = CountDescriptors(processId);
        var gcHeap = await ReadGcHeapAsync(cancellation).ConfigureAwait(false);
        var sample = new ServerSample { Elapsed = elapsed, RssBytes = rss, RssAnonBytes = rssAnon, Threads = threads, Handles = handles, Sockets = sockets, GcHeapBytes = gcHeap, Connections = -1 };
        try
        {
            var s = await stats.GetStatsAsync(cancellation).WaitAsync(TimeSpan.FromSeconds(10), cancellation).ConfigureAwait(false);
            return sample with
            {
                Connections = s.Connections, InFlight = s.InFlight, Queued = s.Queued, Swaps = s.SwapsTotal,
                ServerRequests = s.RequestsTotal, ServerErrors = s.ErrorsTotal,
            };
        }
        catch (Exception ex) when (ex is ModelRouterException or TimeoutException)
        {
            return sample;
        }
    }

    /// <summary>VmRSS, RssAnon and Threads from /proc/PID/status (0 where /proc is absent).</summary>
    public static (long RssBytes, long RssAnonBytes, int Threads) ReadStatus(int pid)
    {
        var path = $"/proc/{pid}/status";
        if (!File.Exists(path))
        {
            return (0, 0, 0);
        }

        long rss = 0, anon = 0;
        var threads = 0;
        IEnumerable<string> lines;
        try
        {
            lines = File.ReadAllLines(path);
        }
        catch (IOException)
        {
            return (0, 0, 0); // the process ended between the check and the read
        }

        foreach (var line in lines)
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
            {
                rss = Kilobytes(line.AsSpan(6));
            }
            else if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
            {
                anon = Kilobytes(line.AsSpan(8));
            }
            else if (line.StartsWith("Threads:", StringComparison.Ordinal))
            {
                threads = int.Parse(line.AsSpan(8).Trim(), CultureInfo.InvariantCulture);
            }
        }

        return (rss, anon, threads);
    }

    private static long Kilobytes(ReadOnlySpan<char> value) => long.Parse(value.Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture) * 1024;

    /// <summary>Descriptors in /proc/PID/fd, split into sockets and the rest.</summary>
    public static (int Handles, int Sockets) CountDescriptors(int pid)
    {
        var directory = $"/proc/{pid}/fd";
        if (!Directory.Exists(directory))
        {
            return (0, 0);
        }

        int handles = 0, sockets = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries(directory))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
            }
            catch (IOException)
            {
                continue; // closed between the listing and the look
            }

            if (target is not null && target.StartsWith("socket:", StringComparison.Ordinal))
            {
                sockets++;
            }
            else
            {
                handles++;
            }
        }

        return (handles, sockets);
    }

    /// <summary>Sums the GC heap series (one per generation) of a Prometheus text exposition; null when it has none.</summary>
    public static long? ParseGcHeap(string exposition)
    {
        foreach (var name in GcHeapMetrics)
        {
            double sum = 0;
            var found = false;
            foreach (var raw in exposition.AsSpan().EnumerateLines())
            {
                var line = raw.Trim();
                if (!line.StartsWith(name, StringComparison.Ordinal) || line.Length == name.Length || (line[name.Length] != '{' && line[name.Length] != ' '))
                {
                    continue;
                }

                // "name{labels} value [timestamp]": the value follows the closing brace (labels may hold spaces).
                var rest = line[name.Length] == '{' ? line[(line.IndexOf('}') + 1)..].Trim() : line[name.Length..].Trim();
                var space = rest.IndexOf(' ');
                var value = space < 0 ? rest : rest[..space];
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                {
                    sum += v;
                    found = true;
                }
            }

            if (found)
            {
                return (long)sum;
            }
        }

        return null;
    }

    private async Task<long?> ReadGcHeapAsync(CancellationToken cancellation)
    {
        try
        {
            var text = await metrics.GetStringAsync(new Uri("metrics", UriKind.Relative), cancellation).ConfigureAwait(false);
            return ParseGcHeap(text);
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellation.IsCancellationRequested)
        {
            return null;
        }
    }
}
