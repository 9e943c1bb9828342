using System.Globalization;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Cli.Benchmarks;

/// <summary>
/// Runs bench-decode for several models: for each, llama-bench and our measurement in alternation (one round or
/// more), on the same model file with the same threads, batch sizes and backend, and returns the table's rows.
/// </summary>
public sealed class BenchDecodeRunner(LlamaBenchRunner llamaBench, BenchDecodeSettings settings, TextWriter progress)
{
    public IReadOnlyList<BenchDecodeRow> Run(IReadOnlyList<string> models, CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(models);
        settings.Validate();
        var rows = new List<BenchDecodeRow>();
        foreach (var path in models)
        {
            rows.AddRange(RunModel(path, cancellation));
        }

        return rows;
    }

    private IEnumerable<BenchDecodeRow> RunModel(string path, CancellationToken cancellation)
    {
        var name = Path.GetFileName(path);
        progress.WriteLine($"[{name}] loading through our runtime");
        using var ours = new OurDecodeMeasurement(path, settings, cancellation);
        var peerPp = new List<Throughput>();
        var peerTg = new List<Throughput>();
        var ourPp = new List<Throughput>();
        var ourTg = new List<Throughput>();
        var ourGreedy = new List<Throughput>();
        var inProcessOurs = new List<Throughput>();
        var inProcessDirect = new List<Throughput>();
        var peerBackend = "";
        for (var round = 1; round <= settings.Rounds; round++)
        {
            var tag = settings.Rounds > 1 ? $"[{name} round {round}/{settings.Rounds}]" : $"[{name}]";
            void Report(string line) => progress.WriteLine($"{tag} {line}");
            void RunPeer()
            {
                var arguments = LlamaBenchRunner.Arguments(path, settings.PromptTokens, settings.GeneratedTokens, settings.Threads, settings.Repetitions, settings.GpuLayers);
                Report("llama-bench " + string.Join(' ', arguments));
                var peer = llamaBench.Run(arguments, progress, cancellation);
                var pp = Find(peer, settings.PromptTokens, 0);
                CheckSameSetup(tag, pp);
                peerBackend = pp.Backends;
                peerPp.Add(pp.Throughput);
                peerTg.Add(Find(peer, 0, settings.GeneratedTokens).Throughput);
            }

            void RunOurs()
            {
                ourPp.Add(ours.PromptProcessing(Report));
                ourTg.Add(ours.TokenGeneration(Report));
                if (settings.IncludeGreedy)
                {
                    ourGreedy.Add(ours.GreedyGeneration(Report));
                }

                if (settings.IncludeInProcess)
                {
                    var (api, direct) = ours.InProcessComparison(Report);
                    inProcessOurs.Add(api);
                    inProcessDirect.Add(direct);
                }
            }

            // Alternate who goes first, so that a drift in the machine's load does not favour one side.
            if (round % 2 == 1)
            {
                RunPeer();
                cancellation.ThrowIfCancellationRequested();
                RunOurs();
            }
            else
            {
                RunOurs();
                cancellation.ThrowIfCancellationRequested();
                RunPeer();
            }

            Report(string.Create(CultureInfo.InvariantCulture,
                $"pp t/s: llama-bench {peerPp[^1].Mean:F2}, ours {ourPp[^1].Mean:F2}; tg t/s: llama-bench {peerTg[^1].Mean:F2}, ours {ourTg[^1].Mean:F2}; load {LoadAverage.Read()}"));
        }

        var backend = OurBackend();
        if (!string.Equals(backend, peerBackend, StringComparison.OrdinalIgnoreCase))
        {
            progress.WriteLine($"[{name}] warning: llama-bench ran on '{peerBackend}', we on '{backend}': the ratio does not compare like with like.");
            backend = $"{backend} (llama-bench: {peerBackend})";
        }

        var peerTgPooled = Throughput.Pool(peerTg);
        yield return new BenchDecodeRow(name, backend, settings.Threads, TestNames.Of(settings.PromptTokens, 0), Throughput.Pool(peerPp), Throughput.Pool(ourPp));
        yield return new BenchDecodeRow(name, backend, settings.Threads, TestNames.Of(0, settings.GeneratedTokens), peerTgPooled, Throughput.Pool(ourTg));
        if (ourGreedy.Count > 0)
        {
            yield return new BenchDecodeRow(name, backend, settings.Threads, TestNames.Of(0, settings.GeneratedTokens) + " (greedy, generator)", peerTgPooled, Throughput.Pool(ourGreedy));
        }

        if (inProcessOurs.Count > 0)
        {
            // Here the peer column is llama.cpp's calls made directly in our process, alternating with ours.
            yield return new BenchDecodeRow(name, backend, settings.Threads, TestNames.Of(0, settings.GeneratedTokens) + " (in-process: vs direct llama.cpp calls)",
                Throughput.Pool(inProcessDirect), Throughput.Pool(inProcessOurs));
        }
    }

    private void CheckSameSetup(string tag, LlamaBenchResult peer)
    {
        if (peer.Threads != settings.Threads)
        {
            progress.WriteLine($"{tag} warning: llama-bench reports {peer.Threads} threads, we use {settings.Threads}.");
        }

        if (peer.BatchSize != BenchDecodeSettings.LlamaBenchBatchSize || peer.MicroBatchSize != 512)
        {
            progress.WriteLine($"{tag} warning: llama-bench used n_batch {peer.BatchSize}, n_ubatch {peer.MicroBatchSize}; we use 2048 and 512.");
        }

        var ourCommit = NativeRuntime.EnsureInitialized().LlamaCommit;
        if (peer.BuildCommit.Length > 0 && ourCommit.Length > 0
            && !ourCommit.StartsWith(peer.BuildCommit, StringComparison.OrdinalIgnoreCase)
            && !peer.BuildCommit.StartsWith(ourCommit, StringComparison.OrdinalIgnoreCase))
        {
            progress.WriteLine($"{tag} warning: llama-bench was built from {peer.BuildCommit}, our libraries from {ourCommit}.");
        }
    }

    private static LlamaBenchResult Find(IReadOnlyList<LlamaBenchResult> results, int prompt, int generated) =>
        results.FirstOrDefault(r => r.PromptTokens == prompt && r.GeneratedTokens == generated)
        ?? throw new InvalidOperationException($"llama-bench's output has no {TestNames.Of(prompt, generated)} test.");

    private string OurBackend()
    {
        var info = NativeRuntime.EnsureInitialized();
        var gpu = info.CompiledBackends.Contains("cuda") && settings.GpuLayers != 0
            && NativeRuntime.GetDevices().Any(d => d.Kind == ComputeDeviceKind.Gpu);
        return gpu ? "CUDA" : "CPU";
    }
}
