using ModelRouter.Routing.Policies;
using ModelRouter.Server.Options;

namespace ModelRouter.Server.Routing;

/// <summary>
/// Turns the configured catalog into the routing library's: one <see cref="ModelCatalog"/> per task type, holding
/// only the models allowed to serve it (the task's route when one is configured, else every model that lists the
/// task among its capabilities), in route or configuration order so that ties go to the earlier model.
/// </summary>
internal static class ServerCatalog
{
    /// <summary>Task type → its candidates' catalog; task types compare case-insensitively, as routes always did.</summary>
    public static Dictionary<string, ModelCatalog> ByTask(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var byName = options.Models.ToDictionary(m => m.Name, StringComparer.Ordinal);
        var tasks = new Dictionary<string, List<CatalogModelOptions>>(StringComparer.OrdinalIgnoreCase);
        foreach (var model in options.Models)
        {
            foreach (var capability in model.Capabilities.Where(c => c.Length > 0))
            {
                if (!tasks.TryGetValue(capability, out var list))
                {
                    tasks[capability] = list = [];
                }

                if (!list.Contains(model))
                {
                    list.Add(model);
                }
            }
        }

        // A configured route replaces the capability list for its task: the operator named who serves it, and in what order.
        foreach (var route in options.Routes)
        {
            tasks[route.Task] = route.Models.Distinct(StringComparer.Ordinal).Select(m => byName[m]).ToList();
        }

        // No minimum sizes: which models may serve a task is already said by routes and capabilities, and the library's
        // defaults name task types (math_reasoning, creative_writing) that a server's classifier need not use.
        var noMinimum = new Dictionary<string, SizeClass>(StringComparer.OrdinalIgnoreCase);
        return tasks.Where(t => t.Value.Count > 0).ToDictionary(
            t => t.Key,
            t => new ModelCatalog(t.Value.Select(m => ToCatalogModel(m, t.Key)), noMinimum),
            StringComparer.OrdinalIgnoreCase);
    }

    public static CatalogModel ToCatalogModel(CatalogModelOptions model, string task)
    {
        ArgumentNullException.ThrowIfNull(model);
        return new CatalogModel
        {
            Name = model.Name,

            // Membership of this task's catalog is what qualifies the model; its other capabilities do not matter here.
            TaskTypes = new HashSet<string>([task], StringComparer.OrdinalIgnoreCase),
            Size = model.SizeClass,
            CostPer1kTokens = model.CostPer1kTokens,
            Latency = model.LatencyClass,

            // Context is the scheduler's business (ContextPerSequence), not a routing criterion here.
            ContextLength = int.MaxValue,
            IsLocal = true,
        };
    }

    /// <summary>The one parser of latency class names (hints from the HTTP door); config binds the enum itself.</summary>
    public static LatencyClass? ParseLatency(string? value) => value?.ToUpperInvariant() switch
    {
        null or "" => null,
        "REALTIME" => LatencyClass.RealTime,
        "INTERACTIVE" => LatencyClass.Interactive,
        "BATCH" => LatencyClass.Batch,
        _ => throw new ArgumentException($"Latency class '{value}' is not one of realtime, interactive, batch.", nameof(value)),
    };
}
