using System.CommandLine;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ModelRouter.Routing.Classification;
using ModelRouter.Runtime;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;

namespace ModelRouter.Cli.Commands;

/// <summary>`modelrouter serve`: runs the routing server from a config file until Ctrl+C (then drains in-flight requests).</summary>
internal static class ServeCommand
{
    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "JSON config with a \"ModelRouter\" section: listeners, tokens, catalog, routes, scheduler (see docs/server.md).", Required = true };
        var router = new Option<string?>("--router") { Description = "Classifier file from `modelrouter train-router`; without it routed requests go to DefaultModel." };
        var command = new Command("serve", "Run the routing server (TCP and/or Unix socket) from a config file.") { config, router };
        command.TreatUnmatchedTokensAsErrors = false; // host overrides such as --ModelRouter:Tcp=127.0.0.1:9000 pass through
        command.SetAction(async (parse, cancellation) =>
        {
            try
            {
                using var classifier = parse.GetValue(router) is { } path ? TaskClassifier.Load(path) : null;
                ITaskClassifier tasks = classifier is null ? new NoClassifier() : new ClassifierTaskAdapter(classifier);
                var builder = ModelRouterHost.CreateBuilder([.. parse.UnmatchedTokens], parse.GetValue(config), tasks);
                using var host = builder.Build();
                await host.RunAsync(cancellation).ConfigureAwait(false);
                return 0;
            }
            catch (Exception ex) when (ex is OptionsValidationException or FileNotFoundException or InvalidDataException or InvalidModelFileException or IOException)
            {
                Console.Error.WriteLine("error: " + ex.Message);
                return 1;
            }
        });
        return command;
    }
}
