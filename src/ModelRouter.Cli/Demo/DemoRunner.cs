using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Cli.Reporting;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Training;
using ModelRouter.Server.Doors.Http;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;

namespace ModelRouter.Cli.Demo;

/// <summary>
/// The main job end to end: forge a catalog, train the router from the repo's example utterances, start the server
/// on loopback, and let several concurrent clients send mixed tasks that the server routes, swapping models as it
/// goes; print each request's route, timings and speed, then a summary.
/// </summary>
internal sealed class DemoRunner(DemoSettings settings, TextWriter output, TextWriter progress)
{
    private readonly Lock console = new();

    public async Task<int> RunAsync(CancellationToken cancellation)
    {
        Directory.CreateDirectory(settings.WorkDirectory);
        var paths = DemoCatalog.Forge(Path.Combine(settings.WorkDirectory, "models"), progress, cancellation);
        progress.WriteLine("[demo] measuring what each model holds once loaded (weights and contexts) for the device budget");
        var footprints = await DemoFootprints.MeasureAsync(paths, DemoCatalog.Scheduler(), cancellation).ConfigureAwait(false);
        var config = DemoCatalog.WriteConfig(settings.WorkDirectory, paths, footprints);
        progress.WriteLine($"[demo] device budget {DemoCatalog.Budget(footprints):N0} bytes of weights: the two largest models fit together, never all four");

        progress.WriteLine($"[demo] training the router from {settings.RoutesFile}");
        var training = RouterTrainer.Train(TrainingSet.Load(settings.RoutesFile), new TrainerOptions { Seed = 1 });
        var classifierPath = Path.Combine(settings.WorkDirectory, "router.mrc");
        ClassifierFileWriter.Write(training.Model, classifierPath);
        using var classifier = TaskClassifier.Load(classifierPath);

        var builder = ModelRouterHost.CreateBuilder([], config, new ClassifierTaskAdapter(classifier));
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Logging.AddFilter("llama.cpp", LogLevel.Error); // forged vocabularies draw harmless token-type warnings
        using var host = builder.Build();
        await host.StartAsync(cancellation).ConfigureAwait(false);
        try
        {
            var endpoint = host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
            progress.WriteLine($"[demo] server listening on {endpoint}; {settings.Clients} clients × {settings.RequestsPerClient} requests, routed");
            output.WriteLine("Demo models have random weights (forged): their text is gibberish by design; the routing, swapping and timings are real.");
            output.WriteLine($"Dashboard (live tiers, swaps, queues, decisions; --keep-running keeps it up): {new Uri(host.Services.GetRequiredService<HttpDoorService>().Address!, "/")}#token=demo-admin");
            output.WriteLine();
            var prompts = LoadPrompts(settings.PromptsFile);
            var start = Stopwatch.GetTimestamp();
            var results = await Task.WhenAll(Enumerable.Range(0, settings.Clients).Select(c => RunClientAsync(endpoint, c, prompts, cancellation))).ConfigureAwait(false);
            var wall = Stopwatch.GetElapsedTime(start);
            PrintSummary(results.SelectMany(r => r).ToList(), host.Services.GetRequiredService<ModelRouterService>(), wall);

            var http = host.Services.GetRequiredService<HttpDoorService>().Address!;
            await new DemoHttpLeg(http, output).RunAsync(prompts, settings.MaxTokens, cancellation).ConfigureAwait(false);
            if (settings.KeepRunning)
            {
                output.WriteLine($"\nThe server keeps running (Ctrl+C stops it): socket tcp://{endpoint}, HTTP {http}");
                await Task.Delay(Timeout.Infinite, cancellation).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }

            return 0;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private async Task<List<(string Intended, GenerationResult Result)>> RunClientAsync(IPEndPoint endpoint, int client, List<(string Label, string Text)> prompts, CancellationToken cancellation)
    {
        var results = new List<(string, GenerationResult)>();
        await using var connection = await ModelRouterClient.ConnectAsync(endpoint, "demo", new ModelRouterClientOptions { ClientName = $"demo-client-{client}" }, cancellation).ConfigureAwait(false);
        for (var r = 0; r < settings.RequestsPerClient; r++)
        {
            var (label, text) = prompts[((client * settings.RequestsPerClient) + r) % prompts.Count];
            var result = await connection.CompleteAsync(new GenerateRequest { Prompt = text, MaxTokens = settings.MaxTokens, Temperature = 0.7f, Seed = (ulong)(client + 1) }, cancellation).ConfigureAwait(false);
            results.Add((label, result));
            var s = result.Stats;
            lock (console)
            {
                output.WriteLine(string.Format(CultureInfo.InvariantCulture,
                    "client {0,2}  {1,-14} → {2,-13} route {3,6:F1} µs  queue {4,7:F1} ms  swap {5,7:F1} ms  ttft {6,7:F1} ms  {7,6:F1} tok/s  \"{8}\"",
                    client, result.TaskType, result.Model, s.RouteTime.TotalMicroseconds, s.QueueWait.TotalMilliseconds, s.SwapTime.TotalMilliseconds,
                    s.TimeToFirstToken.TotalMilliseconds, s.TokensPerSecond, Excerpt(text)));
            }
        }

        return results;
    }

    private void PrintSummary(List<(string Intended, GenerationResult Result)> results, ModelRouterService service, TimeSpan wall)
    {
        var table = new TextTable("model", "requests", "restores", "evictions", "mean ttft ms", "mean tok/s", "tokens");
        var c = CultureInfo.InvariantCulture;
        foreach (var status in service.Pool.Snapshot())
        {
            var mine = results.Where(r => r.Result.Model == status.Name).Select(r => r.Result.Stats).ToList();
            table.Add(status.Name, mine.Count.ToString(c), status.Restores.ToString(c), status.Evictions.ToString(c),
                mine.Count == 0 ? "-" : mine.Average(s => s.TimeToFirstToken.TotalMilliseconds).ToString("F1", c),
                mine.Count == 0 ? "-" : mine.Average(s => s.TokensPerSecond).ToString("F1", c),
                mine.Sum(s => s.GeneratedTokens).ToString(c));
        }

        var routedAsIntended = results.Count(r => r.Intended == r.Result.TaskType);
        var routeTimes = results.Select(r => r.Result.Stats.RouteTime.TotalMicroseconds).Order().ToList();
        output.WriteLine();
        output.Write(table.ToText());
        output.WriteLine(string.Format(c,
            "\n{0} requests in {1:F1} s ({2:F1} requests/s); router agreed with the demo's intended task on {3}/{0}; route time p50 {4:F1} µs, max {5:F1} µs",
            results.Count, wall.TotalSeconds, results.Count / wall.TotalSeconds, routedAsIntended, routeTimes[routeTimes.Count / 2], routeTimes[^1]));
    }

    private static List<(string Label, string Text)> LoadPrompts(string path) =>
        File.ReadLines(path).Where(l => l.Length > 0).Select(l =>
        {
            using var doc = JsonDocument.Parse(l);
            return (doc.RootElement.GetProperty("label").GetString()!, doc.RootElement.GetProperty("text").GetString()!);
        }).ToList();

    private static string Excerpt(string text) => text.Length <= 48 ? text : text[..45] + "...";
}

/// <summary>What the demo runs and where it keeps its files.</summary>
internal sealed record DemoSettings(string WorkDirectory, string RoutesFile, string PromptsFile, int Clients, int RequestsPerClient, int MaxTokens, bool KeepRunning = false);
