using System.Text.Json;
using ModelRouter.Cli.Soak;
using ModelRouter.Runtime.Forge;

namespace ModelRouter.Cli.Tests.Soak;

public sealed class SoakRunnerTests
{
    [Fact]
    public void GcHeapIsTheSumOfTheRuntimeMetersSeries()
    {
        const string exposition = """
            # TYPE dotnet_gc_last_collection_heap_size_bytes gauge
            dotnet_gc_last_collection_heap_size_bytes{gc_heap_generation="gen0",otel_scope_name="System.Runtime"} 1000 1733500000000
            dotnet_gc_last_collection_heap_size_bytes{gc_heap_generation="loh"} 2.5e3
            dotnet_gc_last_collection_heap_size_bytes_total 99
            modelrouter_requests_total{model="a"} 7
            """;
        Assert.Equal(3500, ProcessSampler.ParseGcHeap(exposition));
    }

    [Fact]
    public void GcHeapIsUnknownWhenTheServerDoesNotExportIt() =>
        Assert.Null(ProcessSampler.ParseGcHeap("# TYPE modelrouter_requests_total counter\nmodelrouter_requests_total{model=\"a\"} 7\n"));

    [Fact]
    public void ReadsRssThreadsAndDescriptorsOfALiveProcess()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("The soak reads /proc (Linux only).");
        }

        var (rss, anon, threads) = ProcessSampler.ReadStatus(Environment.ProcessId);
        var (handles, _) = ProcessSampler.CountDescriptors(Environment.ProcessId);
        Assert.True(rss > 1 << 20, $"RSS {rss}");
        Assert.InRange(anon, 1, rss);
        Assert.True(threads >= 1, $"threads {threads}");
        Assert.True(handles >= 3, $"handles {handles}"); // stdin, stdout, stderr at least
    }

    [Fact]
    public void SettingsRefuseAnIntervalLongerThanTheRun() =>
        Assert.Throws<ArgumentException>(() => new SoakSettings { Duration = TimeSpan.FromSeconds(10), Interval = TimeSpan.FromSeconds(20) }.Validate());

    /// <summary>
    /// A short soak of the real server process: every lane runs, each interval prints a line and a CSV row, and at the
    /// end no request is lost or hung and no connection is left open. Growth is not judged here (20 s is all warm-up).
    /// </summary>
    [Fact(Timeout = 300_000)]
    public async Task AShortSoakLosesNothingAndLeavesNothingHanging()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("The soak reads /proc and stops the server with SIGTERM (Linux only).");
        }

        if (VocabLocator.FindDefault(ForgeArchitecture.Llama) is null || VocabLocator.FindDefault(ForgeArchitecture.Qwen2) is null)
        {
            Assert.Skip("No ggml-vocab-*.gguf to forge the soak's models: run ./build.sh native to fetch the pinned llama.cpp source, or set LLAMA_CPP_DIR.");
        }

        var directory = Path.Combine(Path.GetTempPath(), "mr-soak-test-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var settings = new SoakSettings
            {
                Duration = TimeSpan.FromSeconds(20),
                Interval = TimeSpan.FromSeconds(5),
                WarmUp = TimeSpan.FromSeconds(10),
                Concurrency = 1,
                MaxTokens = 8,
                WorkDirectory = directory,
            };
            using var output = new StringWriter();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
            timeout.CancelAfter(TimeSpan.FromMinutes(4));

            var result = await new SoakRunner(settings, output, TextWriter.Null).RunAsync(timeout.Token);

            var text = output.ToString();
            Assert.True(result.Lost == 0, $"lost {result.Lost}: {string.Join("; ", result.LostDetails)}\n{text}");
            Assert.True(result.Hung == 0, $"hung {result.Hung}: {string.Join("; ", result.HungRequests)}\n{text}");
            Assert.Equal(0, result.LeakedConnections);
            Assert.False(result.ServerCrashed);
            Assert.Equal(0, result.ServerExitCode);
            Assert.Equal(4, result.Samples.Count);
            Assert.Contains(SoakRow.Heading, text, StringComparison.Ordinal);
            Assert.Contains("   00:05 ", text, StringComparison.Ordinal);
            Assert.Contains("    idle ", text, StringComparison.Ordinal);
            Assert.All(result.Samples, s => Assert.True(s.RssBytes > 0 && s.Threads > 0 && s.Handles > 0 && s.Connections >= 1));
            // Each streaming lane picks chat or completion at random: either kind counts.
            Assert.Contains(result.Kinds, k => k.Key is "socket.stream" or "socket.chat-stream" && k.Value.Done > 0);
            Assert.Contains(result.Kinds, k => k.Key is "http.stream" or "http.chat-stream" && k.Value.Done > 0);
            Assert.Contains(result.Kinds, k => k.Key.StartsWith("raw.", StringComparison.Ordinal) && k.Value.Sent > 0);
            Assert.Contains(result.Samples, s => s.Swaps > 0);

            var csv = File.ReadAllLines(result.CsvPath);
            Assert.Equal(SoakRow.CsvHeading, csv[0]);
            Assert.Equal(1 + 1 + 4 + 1, csv.Length); // heading, start, four intervals, idle
            using var summary = JsonDocument.Parse(File.ReadAllText(result.SummaryPath));
            Assert.Equal(0, summary.RootElement.GetProperty("lost").GetInt64());
            Assert.Equal(0, summary.RootElement.GetProperty("hung").GetInt32());
            Assert.True(summary.RootElement.GetProperty("growth").TryGetProperty("rss", out _));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
