using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Hosting;

/// <summary>
/// Builds the server host: configuration from appsettings.json, an optional config file, MODELROUTER__* environment
/// variables and the command line (later sources win), options validated at start, the pool and scheduler service,
/// the router and the socket listeners.
/// </summary>
public static class ModelRouterHost
{
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

            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false, reloadOnChange: false);
        }

        builder.Configuration.AddEnvironmentVariables("MODELROUTER__");
        builder.Configuration.AddCommandLine(args);

        builder.Services.AddOptions<ServerOptions>().Bind(builder.Configuration.GetSection(ServerOptions.SectionName)).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ServerOptions>, ServerOptionsValidator>();
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton(classifier);
        builder.Services.AddSingleton<IRequestRouter>(sp => new CatalogRouter(sp.GetRequiredService<IOptions<ServerOptions>>().Value, classifier));
        builder.Services.AddSingleton<ModelRouterService>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<ModelRouterService>());
        builder.Services.AddHostedService<ListenerService>();
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(30));
        return builder;
    }
}
