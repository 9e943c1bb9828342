using System.CommandLine;
using ModelRouter.Cli.Benchmarks.Swap;
using ModelRouter.Runtime;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Swap;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter bench-swap`: per model, llama.cpp's reload from a warm page cache vs our restore from the warm tier,
/// both to the first decoded token, with the physical reference and evict time; table on stdout, CSV, markdown and
/// SVG in --out, progress on stderr.
/// </summary>
internal static class BenchSwapCommand
{
    public static Command Create()
    {
        var models = new Option<string[]>("--model") { Description = "GGUF model to measure (repeatable).", Required = true, AllowMultipleArgumentsPerToken = true };
        var cycles = new Option<int>("--cycles") { Description = "Measurements per method (medians are reported).", DefaultValueFactory = _ => 5 };
        var threads = new Option<int>("--threads") { Description = "CPU threads (0: all cores).", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "Directory for bench-swap.csv, bench-swap.md, bench-swap.svg and summary.json." };
        var cpuRestore = new Option<string>("--cpu-restore") { Description = "CPU swap region restore: copy (the image into fresh pages) or map (the image itself, read-only).", DefaultValueFactory = _ => "copy" };
        cpuRestore.AcceptOnlyFromAmong("copy", "map");
        var pagePool = new Option<string>("--cpu-page-pool")
        {
            Description = "CPU path: on keeps evicted pages for the next restore (the server's default, KeepEvictedCpuPages), off hands them back at evict.",
            DefaultValueFactory = _ => "on",
        };
        pagePool.AcceptOnlyFromAmong("on", "off");
        var evictedMs = new Option<int>("--evicted-ms")
        {
            Description = "Milliseconds each cycle leaves the model evicted before it restores it (a server restores models evicted a while ago).",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("bench-swap", "Measure model swap-in against llama.cpp's own reload and llama-server's router-mode switch (when ./build.sh peers is built), to the first token.")
        {
            models, cycles, threads, output, cpuRestore, pagePool, evictedMs,
        };
        command.SetAction((parse, cancellation) =>
        {
            var settings = new SwapBenchSettings(parse.GetValue(models) ?? [], parse.GetValue(cycles), parse.GetValue(threads), parse.GetValue(output),
                "modelrouter " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)), parse.GetValue(cpuRestore) == "map",
                parse.GetValue(pagePool) == "on", parse.GetValue(evictedMs));
            return Task.FromResult(Run(settings, cancellation));
        });
        return command;
    }

    private static int Run(SwapBenchSettings settings, CancellationToken cancellation)
    {
        if (settings.Cycles < 1)
        {
            Console.Error.WriteLine("error: --cycles must be at least 1");
            return 2;
        }

        if (settings.EvictedMilliseconds is < 0 or > 600_000)
        {
            Console.Error.WriteLine("error: --evicted-ms must be between 0 and 600000");
            return 2;
        }

        try
        {
            var header = SwapBenchReport.Header(settings);
            Console.Error.Write(header);
            var rows = new SwapBenchRunner(settings, Console.Error).Run(cancellation);
            var table = SwapBenchReport.Table(rows);
            Console.Out.Write(table.ToText());
            if (settings.OutputDirectory is { } dir)
            {
                Directory.CreateDirectory(dir);
                File.WriteAllText(Path.Combine(dir, "bench-swap.csv"), table.ToCsv());
                File.WriteAllText(Path.Combine(dir, "bench-swap.md"), "```\n" + header + "```\n\n" + table.ToMarkdown());
                File.WriteAllText(Path.Combine(dir, "bench-swap.svg"), SwapBenchReport.Chart(rows, header.Split('\n')[1]));
                var machine = header.Split('\n').FirstOrDefault(l => l.StartsWith("machine: ", StringComparison.Ordinal))?["machine: ".Length..] ?? "unknown";
                File.WriteAllText(Path.Combine(dir, "summary.json"), SwapBenchSummary.Write(rows, settings, machine));
                Console.Error.WriteLine($"[bench-swap] wrote bench-swap.csv, bench-swap.md, bench-swap.svg and summary.json to {Path.GetFullPath(dir)}");
            }

            return rows.All(r => r.TokensEqual) ? 0 : 1;
        }
        catch (Exception ex) when (ex is InvalidModelFileException or ModelLoadException or InferenceException or ModelUnavailableException
                                       or IOException or UnauthorizedAccessException or OperationCanceledException)
        {
            Console.Error.WriteLine("error: " + ex.Message);
            return 1;
        }
    }
}
