using System.CommandLine;
using ModelRouter.Cli.Soak;
using ModelRouter.Client;
using ModelRouter.Runtime;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter soak`: a long run of the real server under mixed, hostile load on both doors (not in CI), with the
/// process's memory, threads, handles and connections each interval, and the verdict at the end: nothing lost,
/// nothing hung, memory and handles flat after warm-up.
/// </summary>
internal static class SoakCommand
{
    private const int UsageError = 2;
    private const int Failure = 1;

    public static Command Create()
    {
        var minutes = new Option<double>("--minutes") { Description = "Length of the load (fractions allowed: 0.5 is 30 s).", DefaultValueFactory = _ => 30 };
        var interval = new Option<double>("--interval") { Description = "Seconds between samples (one line and one CSV row each).", DefaultValueFactory = _ => 60 };
        var warmup = new Option<double?>("--warmup") { Description = "Seconds of warm-up before the growth check's first sample (default: a fifth of the run, at most 300)." };
        var concurrency = new Option<int>("--concurrency") { Description = "Workers per load lane.", DefaultValueFactory = _ => 2 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Largest max_tokens of a generation.", DefaultValueFactory = _ => 24 };
        var threads = new Option<int>("--threads") { Description = "CPU threads of each model's context in the server.", DefaultValueFactory = _ => 1 };
        var maxGrowth = new Option<double>("--max-growth") { Description = "Largest growth of RSS, GC heap and handles after warm-up that passes (0.10 = 10%).", DefaultValueFactory = _ => 0.10 };
        var hungAfter = new Option<double>("--hung-after") { Description = "Seconds requests still open at the end may take before they count as hung.", DefaultValueFactory = _ => 30 };
        var work = new Option<string>("--dir") { Description = "Where forged models, config, server.log, soak.csv and summary.json go.", DefaultValueFactory = _ => Path.Combine("artifacts", "soak") };
        var data = new Option<string>("--data") { Description = "Folder with routes.jsonl to train the router from (absent: routed requests go to the default model).", DefaultValueFactory = _ => "demo" };
        var command = new Command("soak", "Run the server as its own process under mixed load on both doors (swaps, cancels, disconnects, bad frames, slow clients) and report memory, threads, handles and connections each interval, then lost and hung requests (exit 1 unless none, and memory and handles flat after warm-up).")
        {
            minutes, interval, warmup, concurrency, maxTokens, threads, maxGrowth, hungAfter, work, data,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            try
            {
                var settings = new SoakSettings
                {
                    Duration = TimeSpan.FromMinutes(parse.GetValue(minutes)),
                    Interval = TimeSpan.FromSeconds(parse.GetValue(interval)),
                    WarmUp = parse.GetValue(warmup) is { } w ? TimeSpan.FromSeconds(w) : null,
                    Concurrency = parse.GetValue(concurrency),
                    MaxTokens = parse.GetValue(maxTokens),
                    Threads = parse.GetValue(threads),
                    MaxGrowth = parse.GetValue(maxGrowth),
                    HungAfter = TimeSpan.FromSeconds(parse.GetValue(hungAfter)),
                    WorkDirectory = parse.GetValue(work)!,
                    RoutesFile = Path.Combine(parse.GetValue(data)!, "routes.jsonl"),
                };
                settings.Validate();
                var result = await new SoakRunner(settings, Console.Out, Console.Error).RunAsync(cancellation).ConfigureAwait(false);
                return result.ExitCode;
            }
            catch (ArgumentException ex)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return UsageError;
            }
            catch (Exception ex) when (ex is InvalidModelFileException or ModelRouterException or IOException or InvalidOperationException
                                           or TimeoutException or System.Net.Sockets.SocketException or HttpRequestException or InvalidDataException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return Failure;
            }
        });
        return command;
    }
}
