using System.Diagnostics;
using System.Globalization;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Swap;

namespace ModelRouter.Cli.Benchmarks.Swap;

/// <summary>
/// Measures, per model and in one run: the physical reference, llama.cpp's own reload from a warm page cache
/// (MMAP and NONE) to the first decoded token, our restore from the warm tier to the first decoded token, and
/// our evict; and checks that greedy tokens after the swap cycles equal those before.
/// </summary>
internal sealed class SwapBenchRunner(SwapBenchSettings settings, TextWriter progress)
{
    private const int CorrectnessTokens = 16;
    private const int DecodeTokens = 64;
    private const int DecodeRuns = 3;

    public IReadOnlyList<SwapBenchRow> Run(CancellationToken cancellation)
    {
        var rows = new List<SwapBenchRow>(settings.Models.Count);
        foreach (var path in settings.Models)
        {
            cancellation.ThrowIfCancellationRequested();
            rows.Add(Measure(Path.GetFullPath(path), cancellation));
        }

        return MeasureRouter(rows, cancellation);
    }

    /// <summary>
    /// llama-server in router mode with the same files and <c>--models-max 1</c>: per cycle, a short completion for
    /// the other model makes it the loaded one, then a streamed request for this model is timed to its first token
    /// (the switch), then once more (resident, through HTTP). With one model, the other is the same file under a
    /// second name (the router treats it as a separate model, so the switch is still an unload and a load).
    /// </summary>
    private List<SwapBenchRow> MeasureRouter(List<SwapBenchRow> rows, CancellationToken cancellation)
    {
        var server = LlamaServerRouter.Locate();
        if (server is null)
        {
            progress.WriteLine($"[bench-swap] router mode: skipped ({LlamaServerRouter.NotBuiltReason})");
            return rows.Select(r => r with { RouterSkipped = LlamaServerRouter.NotBuiltReason }).ToList();
        }

        var paths = settings.Models.Select(Path.GetFullPath).ToList();
        var ids = paths.Select((p, i) => $"m{i}-{Path.GetFileNameWithoutExtension(p)}").ToList();
        var presets = ids.Zip(paths, (id, p) => (id, p)).ToList();
        if (paths.Count == 1)
        {
            presets.Add((ids[0] + "-other", paths[0]));
        }

        try
        {
            progress.WriteLine($"[bench-swap] router mode: starting {server} --models-max 1 with {presets.Count} presets");
            using var router = LlamaServerRouter.Start(server, presets, settings.Threads, TimeSpan.FromSeconds(60), cancellation);
            var result = new List<SwapBenchRow>(rows.Count);
            for (var m = 0; m < rows.Count; m++)
            {
                var id = ids[m];
                var other = paths.Count == 1 ? ids[0] + "-other" : ids[(m + 1) % ids.Count];
                var switches = new List<double>();
                var resident = new List<double>();
                for (var i = 0; i < settings.Cycles; i++)
                {
                    Report(rows[m].Model, $"router mode cycle {i + 1}/{settings.Cycles}: load {other}, then switch to this model to the first streamed token");
                    router.Complete(other, cancellation);
                    switches.Add(router.TimeToFirstStreamedToken(id, cancellation));
                    resident.Add(router.TimeToFirstStreamedToken(id, cancellation));
                }

                result.Add(rows[m] with
                {
                    RouterSwitchToFirstTokenMs = MedianOf(switches),
                    RouterResidentToFirstTokenMs = MedianOf(resident),
                    RouterOther = paths.Count == 1 ? Path.GetFileName(paths[0]) + " (same file, second name)" : rows[(m + 1) % rows.Count].Model,
                });
            }

            progress.WriteLine("[bench-swap] router mode: done, stopping llama-server");
            return result;
        }
        catch (Exception ex) when (ex is IOException or HttpRequestException or TaskCanceledException or System.ComponentModel.Win32Exception)
        {
            cancellation.ThrowIfCancellationRequested();
            progress.WriteLine("[bench-swap] router mode failed: " + ex.Message);
            return rows.Select(r => r with { RouterSkipped = "llama-server router mode failed: " + ex.Message.Split('\n')[0] }).ToList();
        }
    }

    private ContextOptions Context => new() { ContextLength = 512, BatchSize = 64, Threads = settings.Threads };

    private SwapBenchRow Measure(string path, CancellationToken cancellation)
    {
        var name = Path.GetFileName(path);
        Report(name, "validating and warming the page cache");
        long weightBytes;
        using (var file = GgufFile.Open(path))
        {
            GgufValidator.CheckLlamaCppRules(file);
            weightBytes = file.Tensors.Sum(t => t.ByteSize);
        }

        var cuda = NativeRuntime.EnsureInitialized().CompiledBackends.Contains("cuda");
        Report(name, cuda ? "physical reference (pinned host-to-device cudaMemcpyAsync)" : "physical reference (host copy from page cache)");
        var reference = cuda
            ? CudaBandwidth.Measure(device: 0, bytes: Math.Max(weightBytes, 256L << 20))
            : HostCopyReference.MeasureGigabytesPerSecond(path);

        // The page pool as the server sets it for its budget; unbounded here, as this pool is (one model at a time).
        CpuPagePool.SetLimit(settings.CpuPagePool ? long.MaxValue / 2 : 0);
        using var pool = new ModelPool(new ModelPoolOptions { BudgetBytes = long.MaxValue / 2, StoreFactory = WeightStores.ForThisBuild(cpu: new CpuSwapOptions { MapImage = settings.CpuMapImage }) });
        pool.Register(new ModelRegistration(name, path) { GpuLayers = -1 });
        pool.PrefetchAsync(name, cancellation: cancellation).GetAwaiter().GetResult();
        var before = GreedyTokens(pool, name, cancellation); // first restore (from warm) and the reference tokens
        Report(name, $"decode speed before any evict ({DecodeTokens} greedy tokens, median of {DecodeRuns})");
        var decodeBefore = DecodeTokensPerSecond(pool, name, cancellation);

        // The methods alternate within each cycle, so drift in machine load touches all of them alike.
        var mmap = new List<double>();
        var none = new List<double>();
        var restoreToToken = new List<double>();
        var restoreOnly = new List<double>();
        var evicts = new List<double>();
        var resident = new List<double>();
        var rssDrops = new List<double>();
        var rssGains = new List<double>();
        for (var i = 0; i < settings.Cycles; i++)
        {
            Report(name, $"cycle {i + 1}/{settings.Cycles}: llama.cpp load (mmap, no mmap) and ours (evict, restore) to the first token");
            mmap.Add(LoadToFirstToken(path, ModelLoadMode.Mmap, cancellation));
            none.Add(LoadToFirstToken(path, ModelLoadMode.None, cancellation));
            var rssResident = ResidentSetBytes();
            if (!pool.TryEvictAsync(name, cancellation).GetAwaiter().GetResult())
            {
                throw new InvalidOperationException($"{name} could not be evicted");
            }

            var rssEvicted = ResidentSetBytes();
            rssDrops.Add(rssResident - rssEvicted);

            pool.TryGetStatus(name, out var evicted);
            evicts.Add(evicted!.LastEvict!.Value.TotalMilliseconds);
            if (settings.EvictedMilliseconds > 0)
            {
                Thread.Sleep(settings.EvictedMilliseconds);
            }

            var start = Stopwatch.GetTimestamp();
            using (var lease = pool.AcquireAsync(name, cancellation).AsTask().GetAwaiter().GetResult())
            {
                TextGenerator.Generate(lease.GetContext(Context), new GenerationRequest(SwapBenchSettings.Prompt) { MaxTokens = 1 }, null, cancellation);
                restoreToToken.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                restoreOnly.Add(lease.SwapTime!.Value.TotalMilliseconds);
                rssGains.Add(ResidentSetBytes() - rssEvicted);
            }

            // The same request on the model while it is resident: the part of a first token that no swap can remove.
            start = Stopwatch.GetTimestamp();
            using var again = pool.AcquireAsync(name, cancellation).AsTask().GetAwaiter().GetResult();
            TextGenerator.Generate(again.GetContext(Context), new GenerationRequest(SwapBenchSettings.Prompt) { MaxTokens = 1 }, null, cancellation);
            resident.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        Report(name, $"decode speed after evict and restore ({DecodeTokens} greedy tokens, median of {DecodeRuns})");
        if (!pool.TryEvictAsync(name, cancellation).GetAwaiter().GetResult())
        {
            throw new InvalidOperationException($"{name} could not be evicted");
        }

        var decodeAfter = DecodeTokensPerSecond(pool, name, cancellation);
        var after = GreedyTokens(pool, name, cancellation);
        return new SwapBenchRow(name, Describe(path), new FileInfo(path).Length, weightBytes, reference, MedianOf(mmap), MedianOf(none),
            MedianOf(restoreToToken), MedianOf(restoreOnly), MedianOf(evicts), before == after, MedianOf(resident),
            (long)MedianOf(rssDrops), (long)MedianOf(rssGains))
        {
            DecodeTokensPerSecondBefore = decodeBefore,
            DecodeTokensPerSecondAfterRestore = decodeAfter,
        };
    }

    /// <summary>Greedy decode tokens/s (after the first token) on one lease: restores the model first if it is evicted.</summary>
    private double DecodeTokensPerSecond(ModelPool pool, string name, CancellationToken cancellation)
    {
        using var lease = pool.AcquireAsync(name, cancellation).AsTask().GetAwaiter().GetResult();
        var speeds = new List<double>(DecodeRuns);
        for (var i = 0; i < DecodeRuns; i++)
        {
            var result = TextGenerator.Generate(lease.GetContext(Context), new GenerationRequest(SwapBenchSettings.Prompt) { MaxTokens = DecodeTokens }, null, cancellation);
            speeds.Add(result.DecodeTokensPerSecond);
        }

        return MedianOf(speeds);
    }

    private double LoadToFirstToken(string path, ModelLoadMode mode, CancellationToken cancellation)
    {
        var start = Stopwatch.GetTimestamp();
        using var model = Model.Load(path, new ModelLoadOptions { LoadMode = mode, GpuLayers = -1, Cancellation = cancellation });
        using var context = InferenceContext.Create(model, Context);
        TextGenerator.Generate(context, new GenerationRequest(SwapBenchSettings.Prompt) { MaxTokens = 1 }, null, cancellation);
        return Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    private string GreedyTokens(ModelPool pool, string name, CancellationToken cancellation)
    {
        using var lease = pool.AcquireAsync(name, cancellation).AsTask().GetAwaiter().GetResult();
        var text = new System.Text.StringBuilder();
        TextGenerator.Generate(lease.GetContext(Context), new GenerationRequest(SwapBenchSettings.Prompt) { MaxTokens = CorrectnessTokens },
            utf8 => text.Append(System.Text.Encoding.UTF8.GetString(utf8)), cancellation);
        return text.ToString();
    }

    private static string Describe(string path)
    {
        using var model = Model.Load(path, new ModelLoadOptions { VocabOnly = false, GpuLayers = 0, LoadMode = ModelLoadMode.Mmap });
        return string.Create(CultureInfo.InvariantCulture, $"{model.Description}, {model.LayerCount} layers, width {model.EmbeddingLength}, {model.ParameterCount / 1e6:F1}M params");
    }

    /// <summary>The process's resident set (Linux /proc/self/statm), 0 elsewhere: what evict and restore move.</summary>
    private static long ResidentSetBytes()
    {
        const string statm = "/proc/self/statm";
        if (!File.Exists(statm))
        {
            return 0;
        }

        var fields = File.ReadAllText(statm).Split(' ');
        return long.Parse(fields[1], CultureInfo.InvariantCulture) * Environment.SystemPageSize;
    }

    private static double MedianOf(List<double> values)
    {
        values.Sort();
        var mid = values.Count / 2;
        return values.Count % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
    }

    private void Report(string model, string step) => progress.WriteLine($"[bench-swap] {model}: {step}");
}
