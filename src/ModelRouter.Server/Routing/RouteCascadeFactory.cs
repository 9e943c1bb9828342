using ModelRouter.Routing.Decisions;
using ModelRouter.Routing.Encoders;
using ModelRouter.Server.Diagnostics;
using ModelRouter.Server.Options;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Routing;

/// <summary>Builds the server's cascade from ModelRouter:Cascade.</summary>
public static class RouteCascadeFactory
{
    /// <exception cref="InvalidDataException">The stage-2 head is damaged or does not match the classifier (message says how).</exception>
    /// <exception cref="FileNotFoundException">The stage-2 head or the encoder package is missing.</exception>
    /// <exception cref="ArgumentException">The judge model is not in the catalog, or a setting is out of range.</exception>
    public static RouteCascade Create(ServerOptions options, ITaskClassifier classifier, ServerMetrics? metrics, Func<Scheduler?> scheduler)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(classifier);
        var settings = options.Cascade;
        ITaskClassifier? stage2 = null;
        if (settings.Stage2Path is { Length: > 0 } path)
        {
            if (settings.Stage2Threads < 1)
            {
                throw new ArgumentException($"ModelRouter:Cascade:Stage2Threads must be at least 1 (is {settings.Stage2Threads}).");
            }

            // Checked against stage 1's routes when stage 1 is the trained classifier (a fake in tests has none).
            var routes = classifier is ClassifierTaskAdapter trained ? trained.Labels : EncoderHead.Load(path).Labels;
            stage2 = new EncoderTaskAdapter(EncoderStage.Load(path, routes, settings.Stage2Threads));
        }

        ILlmJudge? judge = null;
        IReadOnlyList<string> judgeRoutes = [];
        if (settings.JudgeModel is { Length: > 0 } model)
        {
            if (!options.Models.Exists(m => m.Name == model))
            {
                throw new ArgumentException($"ModelRouter:Cascade:JudgeModel '{model}' is not a catalog model ({string.Join(", ", options.Models.Select(m => m.Name))}).");
            }

            if (settings.JudgeTimeoutMs < 1 || settings.JudgeCacheSize < 1)
            {
                throw new ArgumentException($"ModelRouter:Cascade:JudgeTimeoutMs and JudgeCacheSize must be at least 1 (are {settings.JudgeTimeoutMs}, {settings.JudgeCacheSize}).");
            }

            judge = new CachedLlmJudge(new SchedulerLlmJudge(scheduler, model), settings.JudgeCacheSize);
            judgeRoutes = ServerCatalog.ByTask(options).Keys.Order(StringComparer.Ordinal).ToList();
        }

        return new RouteCascade(classifier, stage2, judge, judgeRoutes, TimeSpan.FromMilliseconds(settings.JudgeTimeoutMs), metrics);
    }
}
