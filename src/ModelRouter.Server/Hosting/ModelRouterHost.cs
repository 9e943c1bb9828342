using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Hosting;

/// <summary>
/// Builds the server host: configuration from appsettings.json, an optional config file, MODELROUTER__* environment
/// variables and the command line (later sources win), options validated at start, the pool and scheduler service,
/// the router and the socket listeners.
/// </summary>
public static class ModelRouterHost
{
    /// <summary>Time after the shutdown deadline for the doors to deliver the cut-off requests' errors and close.</summary>
    public static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(5);

    /// <param name="args">Command-line overrides (e.g. --ModelRouter:Tcp=127.0.0.1:9000).</param>
    /// <param name="configFile">A JSON config file with a "ModelRouter" section; null for none.</param>
    /// <param name="classifier">Names the task of prompts that did not name a model.</param>
    public static HostApplicationBuilder CreateBuilder(string[] args, string? configFile, ITaskClassifier classifier)
    {
        ArgumentNullException.ThrowIfNull(classifier);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = [], ContentRootPath = AppContext.BaseDirectory });
        if (configFile is not null)
        {
            if (!File.Exists(configFile))
            {
                throw new FileNotFoundException($"The config file '{configFile}' does not exist.", configFile);
            }

            AddJsonConfig(builder.Configuration, configFile);
        }

        builder.Configuration.AddEnvironmentVariables("MODELROUTER__");
        builder.Configuration.AddCommandLine(args);

        // Bound by ServerOptionsBinding, not the binder directly: a value of the wrong type becomes one more validation
        // problem (key, value, expected type) instead of the binder's exception.
        var section = builder.Configuration.GetSection(ServerOptions.SectionName);
        builder.Services.AddSingleton<ServerOptionsBinding>();
        builder.Services.AddOptions<ServerOptions>().Configure<ServerOptionsBinding>((options, binding) => binding.Bind(section, options)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ServerOptions>>(sp => new ServerOptionsValidator(sp.GetRequiredService<ServerOptionsBinding>()));
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton<ShutdownReport>();
        builder.Services.AddSingleton(classifier);
        builder.Services.AddSingleton(sp =>
        {
            var service = sp.GetRequiredService<ModelRouterService>();
            var options = sp.GetRequiredService<IOptions<ServerOptions>>().Value;

            // The scheduler exists only once the service has started; before that no request can be waiting.
            return new ServerModelAvailability(
                service.Pool,
                model => service.Scheduler is { } scheduler ? scheduler.WaitingFor(model) : 0,
                options.Scheduler.MaxBatchPerModel,
                options.Availability);
        });
        builder.Services.AddSingleton<IRequestRouter>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<ServerOptions>>().Value;
            var service = sp.GetRequiredService<ModelRouterService>();
            var cascade = RouteCascadeFactory.Create(options, classifier, sp.GetRequiredService<ServerMetrics>(), () => service.Scheduler);
            return new PolicyRouter(options, cascade, sp.GetRequiredService<ServerModelAvailability>());
        });
        builder.Services.AddSingleton<ModelRouterService>();
        builder.Services.AddSingleton<RequestPipeline>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ModelRouterService>());
        builder.Services.AddHostedService<ListenerService>();
        builder.Services.AddSingleton<Doors.Http.HttpDoorService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Doors.Http.HttpDoorService>());

        // The pipeline cuts requests off at ShutdownTimeoutSeconds; the host gives the doors a little longer to deliver
        // those last error frames and close before it abandons the services.
        // Read from the raw configuration, not the validated options: the host resolves HostOptions while it is built,
        // and a bad config must fail at start with every problem listed, not here with the first.
        var configuredSeconds = builder.Configuration[$"{ServerOptions.SectionName}:{nameof(ServerOptions.ShutdownTimeoutSeconds)}"];
        var shutdownSeconds = int.TryParse(configuredSeconds, System.Globalization.CultureInfo.InvariantCulture, out var seconds) && seconds >= 0
            ? seconds : new ServerOptions().ShutdownTimeoutSeconds;
        builder.Services.Configure<HostOptions>(host =>
        {
            host.ShutdownTimeout = TimeSpan.FromSeconds(shutdownSeconds) + ShutdownGrace;

            // Both doors stop accepting at once and drain together (the pipeline's drain is shared), rather than the
            // socket listener accepting for up to ShutdownTimeoutSeconds while the HTTP door drains first.
            host.ServicesStopConcurrently = true;
        });
        return builder;
    }

    /// <summary>
    /// Adds the JSON config file; malformed JSON (or a key given twice) becomes one <see cref="InvalidDataException"/>
    /// naming the file, line and position instead of the provider's nested exceptions.
    /// </summary>
    private static void AddJsonConfig(IConfigurationBuilder configuration, string configFile)
    {
        var path = Path.GetFullPath(configFile);
        try
        {
            configuration.AddJsonFile(path, optional: false, reloadOnChange: false);
        }
        catch (InvalidDataException ex)
        {
            // The provider wraps the parser's error twice (InvalidDataException, FormatException, JsonException).
            var inner = ex.InnerException;
            while (inner is not null and not System.Text.Json.JsonException && inner.InnerException is not null)
            {
                inner = inner.InnerException;
            }

            if (inner is System.Text.Json.JsonException json)
            {
                // JsonException counts lines and positions from 0 and appends them to its message; say them once, from 1.
                var reason = json.Message;
                var cut = reason.IndexOf(" Path:", StringComparison.Ordinal) is var p and >= 0 ? p : reason.IndexOf(" LineNumber:", StringComparison.Ordinal);
                reason = cut >= 0 ? reason[..cut] : reason;
                throw new InvalidDataException($"config file '{path}': invalid JSON at line {json.LineNumber + 1}, position {json.BytePositionInLine + 1}: {reason}", ex);
            }

            throw new InvalidDataException($"config file '{path}': {inner?.Message ?? ex.Message}", ex);
        }
    }
}
