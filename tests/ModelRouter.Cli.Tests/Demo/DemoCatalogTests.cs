using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using ModelRouter.Cli.Demo;
using ModelRouter.Cli.Soak;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Forge;
using ModelRouter.Server.Doors.Http;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;

namespace ModelRouter.Cli.Tests.Demo;

/// <summary>The demo's four forged models, forged once for the class (a few seconds each).</summary>
public sealed class DemoModels : IDisposable
{
    private readonly string directory = System.IO.Directory.CreateTempSubdirectory("mr-demo-").FullName;
    private readonly Lazy<IReadOnlyDictionary<string, string>?> paths;

    public DemoModels() => paths = new(() => CanForge() ? DemoCatalog.Forge(Path.Combine(directory, "models"), TextWriter.Null, CancellationToken.None) : null);

    public string Directory => directory;

    /// <summary>The forged files by model name, or a skip saying what is missing.</summary>
    public IReadOnlyDictionary<string, string> Paths => paths.Value
        ?? throw new InvalidOperationException("unreachable: RequirePaths skips first");

    public void RequirePaths()
    {
        if (paths.Value is null)
        {
            Assert.Skip("No ggml-vocab-*.gguf to forge the demo's models: run ./build.sh native to fetch the pinned llama.cpp source, or set LLAMA_CPP_DIR.");
        }
    }

    public void Dispose() => System.IO.Directory.Delete(directory, recursive: true);

    private static bool CanForge() =>
        VocabLocator.FindDefault(ForgeArchitecture.Llama) is not null && VocabLocator.FindDefault(ForgeArchitecture.Qwen2) is not null;
}

/// <summary>
/// The demo's device budget against what the pool really counts once a model has served. The budget used to come from
/// the GGUF tensor sizes, but loaded, reason-large's weights take 72,990,720 bytes (file 46,104,704: the tied token
/// embedding is loaded twice), so every request for it after its first eviction failed with model_unavailable.
/// </summary>
public sealed class DemoCatalogTests(DemoModels models) : IClassFixture<DemoModels>
{
    [Fact(Timeout = 300_000)]
    public async Task The_budget_holds_the_two_largest_models_as_loaded_but_never_the_whole_catalog()
    {
        models.RequirePaths();
        var footprints = await DemoFootprints.MeasureAsync(models.Paths, DemoCatalog.Scheduler(), TestContext.Current.CancellationToken);

        var budget = DemoCatalog.Budget(footprints);

        TestContext.Current.TestOutputHelper?.WriteLine($"budget {budget:N0}; {string.Join("; ", footprints)}");
        Assert.Equal(DemoCatalog.Models.Length, footprints.Count);
        var sizes = footprints.Select(f => f.WeightBytes).OrderDescending().ToList();
        Assert.True(budget >= sizes[0] + sizes[1], $"budget {budget:N0} < the two largest {sizes[0] + sizes[1]:N0}");
        Assert.True(budget < sizes[0] + sizes[1] + sizes[^1], $"budget {budget:N0} holds a third model beside the two largest: no swaps");
        foreach (var f in footprints)
        {
            // Measured, not estimated from the file: loaded weights are at least the file's tensors, contexts are real.
            Assert.True(f.WeightBytes >= TensorBytes(models.Paths[f.Name]), $"{f.Name}: weights {f.WeightBytes:N0}");
            Assert.True(f.GenerationContextBytes > 0 && f.EmbeddingContextBytes > 0, f.ToString());
        }

        // The case that failed: loaded, reason-large is larger than its file, and the old budget (from the files) was smaller still.
        var large = footprints.Single(f => f.Name == "reason-large");
        Assert.True(large.WeightBytes > TensorBytes(models.Paths[large.Name]), $"reason-large weights {large.WeightBytes:N0}");
        Assert.True(budget >= large.WeightBytes);
    }

    /// <summary>
    /// The config the demo writes, served by the real host: every model generates (and embeds, beyond what the demo asks),
    /// twice round the catalog, so that each is restored after an eviction (the case that failed), and what the pool
    /// counts for each model never exceeds the footprint measured for the budget.
    /// </summary>
    [Fact(Timeout = 600_000)]
    public async Task Every_model_of_the_demo_config_serves_including_after_its_eviction()
    {
        models.RequirePaths();
        var cancellation = TestContext.Current.CancellationToken;
        var footprints = await DemoFootprints.MeasureAsync(models.Paths, DemoCatalog.Scheduler(), cancellation);
        var config = DemoCatalog.WriteConfig(models.Directory, models.Paths, footprints); // as the demo writes it
        var builder = ModelRouterHost.CreateBuilder(["--ModelRouter:Scheduler:Threads=1"], config, new NoClassifier());
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        using var host = builder.Build();
        await host.StartAsync(cancellation);
        try
        {
            var service = host.Services.GetRequiredService<ModelRouterService>();
            var endpoint = host.Services.GetServices<IHostedService>().OfType<ListenerService>().Single().TcpEndpoint!;
            await using var client = await ModelRouterClient.ConnectAsync(endpoint, "demo", new ModelRouterClientOptions { ClientName = "demo-test" }, cancellation);
            var residentAtOnce = 0;
            for (var round = 0; round < 2; round++)
            {
                foreach (var model in DemoCatalog.Models)
                {
                    var result = await client.CompleteAsync(new GenerateRequest { Prompt = "Hello there", Model = model.Name, MaxTokens = 2, Seed = 1 }, cancellation);
                    Assert.Equal(model.Name, result.Model);
                    var embedded = await client.EmbedAsync("Hello there", model.Name, cancellation);
                    Assert.Equal(model.Name, embedded.Model);
                    Assert.NotEmpty(embedded.Vector);

                    var snapshot = service.Pool.Snapshot();
                    var status = snapshot.Single(s => s.Name == model.Name);
                    var footprint = footprints.Single(f => f.Name == model.Name);
                    Assert.True(status.WeightBytes + status.ContextBytes <= footprint.TotalBytes,
                        $"{model.Name}: the pool counts {status.WeightBytes:N0} + {status.ContextBytes:N0}, measured {footprint}");
                    residentAtOnce = Math.Max(residentAtOnce, snapshot.Count(s => s.State == Runtime.Swap.ModelState.Resident));
                }
            }

            var final = service.Pool.Snapshot();
            Assert.All(final, s => Assert.True(s.Restores >= 1 && s.LastError is null, $"{s.Name}: {s.Restores} restores, error {s.LastError}"));
            Assert.True(final.Single(s => s.Name == "reason-large").Restores >= 2, "reason-large was never restored after an eviction");
            Assert.InRange(residentAtOnce, 1, DemoCatalog.Models.Length - 1);

            // The same host's /metrics exports the runtime's meter, so the soak's GC heap column is a figure, not n/a.
            using var http = new HttpClient { BaseAddress = host.Services.GetRequiredService<HttpDoorService>().Address };
            var exposition = await http.GetStringAsync(new Uri("metrics", UriKind.Relative), cancellation);
            Assert.Contains("dotnet_gc_last_collection_heap_size_bytes{", exposition, StringComparison.Ordinal);
            Assert.True(ProcessSampler.ParseGcHeap(exposition) > 0, "the soak's parser found no GC heap in /metrics");
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    private static long TensorBytes(string path)
    {
        using var file = Runtime.Gguf.GgufFile.Open(path);
        return file.Tensors.Sum(t => t.ByteSize);
    }
}
