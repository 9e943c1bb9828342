using System.Net;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Orleans.Hosting;

namespace ModelRouter.Cluster;

/// <summary>Joins a server host to a cluster when <c>ModelRouter:Cluster:Enabled</c> is true.</summary>
public static class ClusterHosting
{
    /// <summary>
    /// Reads <see cref="ClusterSettings"/> from the builder's configuration; when enabled, starts an Orleans silo in this
    /// host (membership by the configured provider, probes as configured), the residency publisher and the cluster
    /// view and router. Returns false, registering nothing, when clustering is off.
    /// </summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">The settings are invalid (every problem listed).</exception>
    public static bool AddModelRouterCluster(this IHostApplicationBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var settings = new ClusterSettings();
        builder.Configuration.GetSection(ClusterSettings.SectionName).Bind(settings);
        if (!settings.Enabled)
        {
            return false;
        }

        if (settings.Validate() is { Count: > 0 } problems)
        {
            throw new Microsoft.Extensions.Options.OptionsValidationException(ClusterSettings.SectionName, typeof(ClusterSettings), problems);
        }

        builder.Services.AddModelRouterClusterServices(settings);
        if (settings.HostBudgetBytes > 0)
        {
            // The cluster's placement decides what this node's host tier holds: reading every model at start would
            // overrun the budget only for placement to release most of it again.
            builder.Services.PostConfigure<ModelRouter.Server.Options.ServerOptions>(o => o.PrefetchAtStart = false);
        }

        builder.UseOrleans(silo =>
        {
            if (settings.Provider == ClusterProvider.Localhost)
            {
                // Loopback only: the development membership table lives on the primary node.
                var primary = string.IsNullOrWhiteSpace(settings.PrimaryNode) ? null : IPEndPoint.Parse(settings.PrimaryNode);
                silo.UseLocalhostClustering(settings.SiloPort, settings.GatewayPort, primary, settings.ServiceId, settings.ClusterId);
            }
            else
            {
                silo.Configure<ClusterOptions>(o =>
                {
                    o.ClusterId = settings.ClusterId;
                    o.ServiceId = settings.ServiceId;
                });
                silo.ConfigureEndpoints(IPAddress.Parse(settings.AdvertisedAddress), settings.SiloPort, settings.GatewayPort);
                silo.UseRedisClustering(settings.Redis!); // validated above
            }

            silo.ConfigureModelRouterMembership(settings);
        });
        return true;
    }

    /// <summary>
    /// What a node runs beside its silo: the settings, the residency publisher, the host placement, the cluster view and router, the
    /// forwarder the request pipeline hands other nodes' requests to, and this node's residency (the live server's, unless one is registered already). Separate from the silo so that tests can
    /// run it on Orleans' TestingHost silos.
    /// </summary>
    public static IServiceCollection AddModelRouterClusterServices(this IServiceCollection services, ClusterSettings settings)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(settings);
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(settings));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ClusterView>();
        services.AddSingleton<ClusterRouter>();
        services.TryAddSingleton<ILocalResidency>(sp => new ServerResidency(sp.GetRequiredService<ModelRouter.Server.Hosting.ModelRouterService>(),
            sp.GetRequiredService<ModelRouter.Server.Routing.ServerModelAvailability>(), settings.HostBudgetBytes));
        services.AddHostedService<ResidencyPublisher>();
        services.AddHostedService<HostPlacementService>();
        services.AddSingleton<ClusterForwarder>();
        services.AddSingleton<ModelRouter.Server.Requests.IRequestForwarder>(sp => sp.GetRequiredService<ClusterForwarder>());
        return services;
    }

    /// <summary>Orleans' failure detector as configured: a silent node is declared dead after ProbeTimeout x MissedProbesLimit.</summary>
    public static ISiloBuilder ConfigureModelRouterMembership(this ISiloBuilder silo, ClusterSettings settings)
    {
        ArgumentNullException.ThrowIfNull(silo);
        ArgumentNullException.ThrowIfNull(settings);
        return silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromMilliseconds(settings.ProbeTimeoutMs);
            o.NumMissedProbesLimit = settings.MissedProbesLimit;
        });
    }
}
