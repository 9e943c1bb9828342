using System.CommandLine;
using ModelRouter.Cli.Benchmarks;
using ModelRouter.Cli.Benchmarks.Server;
using ModelRouter.Client;
using ModelRouter.Runtime;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter bench-server`: the server's protocol figures over one loopback connection to a real server: frames/s,
/// the latency added over the same call in-process (p50/p99), and streamed tokens/s against in-process generation,
/// for the socket door (TCP, Unix socket) and the OpenAI-compatible HTTP door (JSON and SSE) side by side.
/// </summary>
internal static class BenchServerCommand
{
    private const int UsageError = 2;
    private const int Failure = 1;

    public static Command Create()
    {
        var defaultModel = Path.Combine("..", "shared", "models", "stories260K.gguf");
        var model = new Option<string>("--model") { Description = "GGUF to serve (small: the figures are about the protocol).", DefaultValueFactory = _ => defaultModel };
        var requests = new Option<int>("--requests") { Description = "Timed round trips per latency row.", DefaultValueFactory = _ => 2000 };
        var pipeline = new Option<int>("--pipeline") { Description = "Pings in flight on the connection for the frames/s row.", DefaultValueFactory = _ => 64 };
        var seconds = new Option<double>("--frames-seconds") { Description = "Duration of the frames/s row.", DefaultValueFactory = _ => 3 };
        var tokens = new Option<int>("--stream-tokens") { Description = "Tokens per streamed generation.", DefaultValueFactory = _ => 256 };
        var streams = new Option<int>("--streams") { Description = "Streamed generations per path.", DefaultValueFactory = _ => 10 };
        var threads = new Option<int>("--threads") { Description = "CPU threads of the model's context (0: llama.cpp's default).", DefaultValueFactory = _ => 1 };
        var noUnix = new Option<bool>("--no-unix-socket") { Description = "Measure loopback TCP only." };
        var noHttp = new Option<bool>("--no-http") { Description = "Leave out the OpenAI-compatible HTTP door." };
        var csv = new Option<string?>("--csv") { Description = "Also write the table as CSV to this file." };
        var markdown = new Option<string?>("--markdown") { Description = "Also write the table as markdown to this file." };
        var command = new Command("bench-server", "Measure the server over one loopback connection per door (socket TCP/Unix, HTTP): frames/s, latency added over in-process calls (p50/p99), streamed tokens/s.")
        {
            model, requests, pipeline, seconds, tokens, streams, threads, noUnix, noHttp, csv, markdown,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            try
            {
                var settings = new ServerBenchSettings
                {
                    ModelPath = parse.GetValue(model)!,
                    Requests = parse.GetValue(requests),
                    Pipeline = parse.GetValue(pipeline),
                    FramesDuration = TimeSpan.FromSeconds(parse.GetValue(seconds)),
                    StreamTokens = parse.GetValue(tokens),
                    Streams = parse.GetValue(streams),
                    Threads = parse.GetValue(threads),
                    UnixSocket = !parse.GetValue(noUnix) && !OperatingSystem.IsWindows(),
                    Http = !parse.GetValue(noHttp),
                };
                settings.Validate();
                var loadBefore = LoadAverage.Read();
                var table = await new ServerBenchRunner(settings, Console.Error).RunAsync(cancellation).ConfigureAwait(false);
                Console.Out.Write(table.ToText());
                Console.Out.WriteLine($"model {settings.ModelPath}, {settings.Threads} thread(s); load average (1/5/15 min) {loadBefore} before, {LoadAverage.Read()} after; {Environment.ProcessorCount} logical cores");
                if (parse.GetValue(csv) is { } csvPath)
                {
                    File.WriteAllText(csvPath, table.ToCsv());
                }

                if (parse.GetValue(markdown) is { } markdownPath)
                {
                    File.WriteAllText(markdownPath, table.ToMarkdown());
                }

                return 0;
            }
            catch (Exception ex) when (ex is ArgumentException or FileNotFoundException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return UsageError;
            }
            catch (Exception ex) when (ex is InvalidModelFileException or ModelRouterException or IOException or InvalidOperationException
                                           or System.Net.Sockets.SocketException or System.Net.Http.HttpRequestException or Microsoft.Extensions.Options.OptionsValidationException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return Failure;
            }
        });
        return command;
    }
}
