using System.CommandLine;
using ModelRouter.Cli.Demo;
using ModelRouter.Client;
using ModelRouter.Runtime;

namespace ModelRouter.Cli.Commands;

/// <summary>`modelrouter demo`: the embedded main job (what `./build.sh run` runs).</summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var clients = new Option<int>("--clients") { Description = "Concurrent clients.", DefaultValueFactory = _ => 8 };
        var requests = new Option<int>("--requests") { Description = "Requests per client.", DefaultValueFactory = _ => 3 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens generated per request.", DefaultValueFactory = _ => 24 };
        var work = new Option<string>("--dir") { Description = "Where forged models, config and router file go.", DefaultValueFactory = _ => Path.Combine("artifacts", "demo") };
        var data = new Option<string>("--data") { Description = "Folder with routes.jsonl (router training utterances) and prompts.jsonl.", DefaultValueFactory = _ => "demo" };
        var keepRunning = new Option<bool>("--keep-running") { Description = "Keep the server running after the demo (Ctrl+C stops it), to try the printed curl line or an OpenAI client." };
        var command = new Command("demo", "Forge a demo catalog, start the server, and run concurrent clients with mixed, routed tasks over the socket and HTTP doors.")
        {
            clients, requests, maxTokens, work, data, keepRunning,
        };
        command.SetAction(async (parse, cancellation) =>
        {
            var dataDir = parse.GetValue(data)!;
            var settings = new DemoSettings(parse.GetValue(work)!, Path.Combine(dataDir, "routes.jsonl"), Path.Combine(dataDir, "prompts.jsonl"),
                parse.GetValue(clients), parse.GetValue(requests), parse.GetValue(maxTokens), parse.GetValue(keepRunning));
            if (settings.Clients < 1 || settings.RequestsPerClient < 1 || settings.MaxTokens < 1)
            {
                Console.Error.WriteLine("error: --clients, --requests and --max-tokens must be at least 1");
                return 2;
            }

            if (!File.Exists(settings.RoutesFile) || !File.Exists(settings.PromptsFile))
            {
                Console.Error.WriteLine($"error: {settings.RoutesFile} or {settings.PromptsFile} is missing (run from the repository root, or pass --data)");
                return 2;
            }

            try
            {
                return await new DemoRunner(settings, Console.Out, Console.Error).RunAsync(cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidModelFileException or ModelRouterException or IOException or InvalidDataException or HttpRequestException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return 1;
            }
        });
        return command;
    }
}
