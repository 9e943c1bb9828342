using System.Diagnostics;
using System.Globalization;
using ModelRouter.Client;

namespace ModelRouter.Cli.Soak;

/// <summary>
/// `modelrouter soak`: starts the server as its own process, drives both doors with every lane at once for the
/// duration, samples the process each interval (one line, one CSV row), then stops the load, waits for what is in
/// flight, and judges: no request lost or hung, no connection left open, memory and handles flat after warm-up.
/// </summary>
public sealed class SoakRunner(SoakSettings settings, TextWriter output, TextWriter progress)
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public async Task<SoakResult> RunAsync(CancellationToken cancellation)
    {
        settings.Validate();
        var directory = Path.GetFullPath(settings.WorkDirectory);
        Directory.CreateDirectory(directory);
        await using var server = await SoakServer.StartAsync(settings, progress, cancellation).ConfigureAwait(false);
        progress.WriteLine($"[soak] server ready: {server}; load for {settings.Duration.TotalMinutes:F1} min, a sample every {settings.Interval.TotalSeconds:F0} s, warm-up {settings.EffectiveWarmUp.TotalSeconds:F0} s");
        await using var statsClient = await ModelRouterClient.ConnectAsync(server.Tcp, SoakServer.Token, new ModelRouterClientOptions { ClientName = "soak-sampler" }, cancellation).ConfigureAwait(false);
        using var sampler = new ProcessSampler(server.ProcessId, server.Http, statsClient);
        var ledger = new SoakLedger();
        var samples = new List<ServerSample>();
        var rows = new List<SoakRow>();
        var csv = new SoakCsv(Path.Combine(directory, "soak.csv"));
        var clock = Stopwatch.StartNew();

        void Record(ServerSample sample, string label)
        {
            var row = SoakRow.From(sample, ledger, label);
            rows.Add(row);
            csv.Append(row);
            output.WriteLine(row.ToLine());
        }

        output.WriteLine(SoakRow.Heading);
        Record(await sampler.SampleAsync(TimeSpan.Zero, cancellation).ConfigureAwait(false), "start");

        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        using var aborting = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        var load = new SoakLoad(server, ledger, settings, stopping.Token, aborting.Token);
        await using var socketLanes = new SocketLanes(load);
        using var httpLanes = new HttpLanes(load);
        var lanes = socketLanes.Start().Concat(httpLanes.Start()).Concat(new RawLanes(load).Start()).ToList();

        var crashed = false;
        for (var next = settings.Interval; next <= settings.Duration + TimeSpan.FromMilliseconds(1); next += settings.Interval)
        {
            var wait = next - clock.Elapsed;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait, cancellation).ConfigureAwait(false);
            }

            if (server.HasExited)
            {
                crashed = true;
                output.WriteLine($"the server exited during the soak (see {server.LogPath})");
                break;
            }

            var sample = await sampler.SampleAsync(clock.Elapsed, cancellation).ConfigureAwait(false);
            samples.Add(sample);
            Record(sample, "");
        }

        // The end: no new requests; those in flight must still end, within the hung grace period.
        await stopping.CancelAsync().ConfigureAwait(false);
        var ended = Stopwatch.StartNew();
        await WaitAsync(() => Task.FromResult(ledger.OpenCount == 0 && socketLanes.InFlightOnSharedConnections() == 0), settings.HungAfter, cancellation).ConfigureAwait(false);
        var hung = ledger.OpenRequests();
        var unterminated = socketLanes.InFlightOnSharedConnections();
        progress.WriteLine($"[soak] load stopped; in-flight requests settled in {ended.Elapsed.TotalSeconds:F1} s ({hung.Count} still open)");
        await aborting.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(lanes).WaitAsync(TimeSpan.FromSeconds(30), cancellation).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        await socketLanes.DisposeAsync().ConfigureAwait(false);
        httpLanes.Dispose();

        // With every soak client gone, only the sampler's own connection may remain.
        var leaked = 0;
        if (!server.HasExited)
        {
            await WaitAsync(async () => await CountConnectionsAsync(statsClient, cancellation).ConfigureAwait(false) <= 1, TimeSpan.FromSeconds(15), cancellation).ConfigureAwait(false);
            var final = await sampler.SampleAsync(clock.Elapsed, cancellation).ConfigureAwait(false);
            Record(final, "idle");
            leaked = Math.Max(0, final.Connections - 1);
        }

        await statsClient.DisposeAsync().ConfigureAwait(false);
        var exitCode = await server.StopAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        var result = SoakResult.Judge(settings, samples, ledger, hung, unterminated, leaked, crashed, exitCode, Path.Combine(directory, "soak.csv"), Path.Combine(directory, "summary.json"));
        File.WriteAllText(result.SummaryPath, result.ToJson());
        output.Write(result.ToText());
        return result;
    }

    private static async Task<int> CountConnectionsAsync(ModelRouterClient stats, CancellationToken cancellation)
    {
        try
        {
            return (await stats.GetStatsAsync(cancellation).WaitAsync(TimeSpan.FromSeconds(5), cancellation).ConfigureAwait(false)).Connections;
        }
        catch (Exception ex) when (ex is ModelRouterException or TimeoutException)
        {
            return int.MaxValue;
        }
    }

    /// <summary>Polls a condition about another process (nothing there can signal us) every 100 ms, up to a limit.</summary>
    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan limit, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition().ConfigureAwait(false) && clock.Elapsed < limit)
        {
            await Task.Delay(100, cancellation).ConfigureAwait(false);
        }
    }

    internal static string Mb(long bytes) => (bytes / (1024.0 * 1024.0)).ToString("F1", C);
}
