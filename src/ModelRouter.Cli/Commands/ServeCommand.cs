using System.CommandLine;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Cluster;
using ModelRouter.Routing.Classification;
using ModelRouter.Runtime;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Routing;

namespace ModelRouter.Cli.Commands;

/// <summary>
/// `modelrouter serve`: runs the routing server from a config file until SIGTERM or Ctrl+C (then drains in-flight
/// requests). Exit codes: 0 stopped with nothing cut off; 1 the configuration or the environment stopped the start
/// (one line per problem); 2 any other failure; 3 stopped, but requests were cut off at the shutdown deadline.
/// </summary>
internal static class ServeCommand
{
    /// <summary>The configuration (or what it points at: files, ports, paths) stopped the start.</summary>
    public const int ConfigErrorExitCode = 1;

    /// <summary>An unexpected failure (a bug or a crash), reported in one line unless --verbose.</summary>
    public const int FailureExitCode = 2;

    // The host logs a start failure with its whole stack trace before rethrowing it; the command reports it instead.
    private const string HostCategory = "Microsoft.Extensions.Hosting.Internal.Host";

    public static Command Create()
    {
        var config = new Option<string>("--config") { Description = "JSON config with a \"ModelRouter\" section: listeners, tokens, catalog, routes, scheduler (see docs/server.md).", Required = true };
        var router = new Option<string?>("--router") { Description = "Classifier file from `modelrouter train-router`; without it routed requests go to DefaultModel." };
        var verbose = new Option<bool>("--verbose") { Description = "On a failure, print the whole exception (stack trace included) instead of one line per problem." };
        var command = new Command("serve", "Run the routing server (TCP and/or Unix socket, optional HTTP door) from a config file.") { config, router, verbose };
        command.TreatUnmatchedTokensAsErrors = false; // host overrides such as --ModelRouter:Tcp=127.0.0.1:9000 pass through
        command.SetAction((parse, cancellation) => RunAsync(parse.GetValue(config)!, parse.GetValue(router), parse.GetValue(verbose), [.. parse.UnmatchedTokens], cancellation));
        return command;
    }

    private static async Task<int> RunAsync(string config, string? router, bool verbose, string[] overrides, CancellationToken cancellation)
    {
        try
        {
            using var classifier = router is { } path ? TaskClassifier.Load(path) : null;
            ITaskClassifier tasks = classifier is null ? new NoClassifier() : new ClassifierTaskAdapter(classifier);
            var builder = ModelRouterHost.CreateBuilder(overrides, config, tasks);
            builder.AddModelRouterCluster(); // only with ModelRouter:Cluster:Enabled (docs/cluster.md)
            var started = false;
            builder.Logging.AddFilter(HostCategory, level => level >= LogLevel.Information && (verbose || Volatile.Read(ref started) || level < LogLevel.Error));
            using var host = builder.Build();
            await host.StartAsync(cancellation).ConfigureAwait(false);
            Volatile.Write(ref started, true);
            await host.WaitForShutdownAsync(cancellation).ConfigureAwait(false);
            return host.Services.GetRequiredService<ShutdownReport>().ExitCode;
        }
        catch (Exception ex) when (!verbose)
        {
            var error = Unwrap(ex);
            var isConfig = IsConfigOrEnvironment(error);
            foreach (var line in Lines(error, isConfig))
            {
                Console.Error.WriteLine("error: " + line);
            }

            return isConfig ? ConfigErrorExitCode : FailureExitCode;
        }
        catch (Exception ex)
        {
            Console.Error.WriteLine(ex.ToString());
            return IsConfigOrEnvironment(Unwrap(ex)) ? ConfigErrorExitCode : FailureExitCode;
        }
    }

    private static Exception Unwrap(Exception ex) => ex is AggregateException { InnerExceptions.Count: 1 } one ? Unwrap(one.InnerExceptions[0]) : ex;

    private static bool IsConfigOrEnvironment(Exception ex) =>
        ex is OptionsValidationException or FileNotFoundException or DirectoryNotFoundException or InvalidDataException
            or InvalidModelFileException or IOException or SocketException or UnauthorizedAccessException;

    /// <summary>One line per problem: every validation failure on its own line; anything else as its message.</summary>
    private static IEnumerable<string> Lines(Exception ex, bool isConfig)
    {
        if (ex is OptionsValidationException validation)
        {
            return validation.Failures;
        }

        if (ex is AggregateException many)
        {
            return many.InnerExceptions.SelectMany(e => Lines(Unwrap(e), IsConfigOrEnvironment(e)));
        }

        // An unexpected exception names its type: its message alone may not say what went wrong.
        var message = OneLine(ex.Message);
        return [isConfig ? message : $"{ex.GetType().Name}: {message} (run with --verbose for the stack trace)"];
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
