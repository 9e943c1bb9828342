using System.Diagnostics;
using System.Globalization;
using ModelRouter.Routing.Policies;
using ModelRouter.Server.Options;

namespace ModelRouter.Server.Routing;

/// <summary>
/// Routes a request that names no model through the configured policy (capability, cost, latency or hybrid) of the
/// routing library. The classifier names the task (a required capability overrides it); the task's candidates are
/// its route's models, or every model listing the task as a capability; the policy judges each candidate, and the
/// hints' budget and latency class are hard limits whichever policy runs. An unsure classifier, a task nobody
/// serves, or no candidate left sends the request to the default model; every candidate's fate is kept with its
/// reason in the result.
/// </summary>
public sealed class PolicyRouter : IRequestRouter
{
    /// <summary>
    /// Every routed request is priced as 1000 tokens (the hints speak of price per 1k tokens and the prompt's token
    /// count is not known yet), so the policies' costs and budgets read directly as prices per 1k tokens.
    /// </summary>
    private const int PricedTokens = 1000;

    private readonly RouteCascade cascade;
    private readonly Dictionary<string, (ModelCatalog Catalog, IRoutingPolicy Policy)> tasks;
    private readonly string defaultModel;
    private readonly string policyName;

    /// <summary>A router whose cascade is the classifier alone.</summary>
    public PolicyRouter(ServerOptions options, ITaskClassifier classifier, IModelAvailability availability)
        : this(options, new RouteCascade(classifier ?? throw new ArgumentNullException(nameof(classifier))), availability)
    {
    }

    public PolicyRouter(ServerOptions options, RouteCascade cascade, IModelAvailability availability)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(cascade);
        ArgumentNullException.ThrowIfNull(availability);
        this.cascade = cascade;
        var weights = new HybridWeights(options.HybridWeights.Capability, options.HybridWeights.Cost, options.HybridWeights.Latency);
        tasks = ServerCatalog.ByTask(options).ToDictionary(
            t => t.Key,
            t => (t.Value, CreatePolicy(options.Policy, t.Value, availability, weights)),
            StringComparer.OrdinalIgnoreCase);
        defaultModel = options.DefaultModel is { Length: > 0 } d ? d : options.Models[0].Name;
        policyName = tasks.Count > 0 ? tasks.Values.First().Policy.Name : options.Policy.ToString().ToLowerInvariant();
    }

    /// <exception cref="ArgumentException"><paramref name="kind"/> is not a defined policy.</exception>
    public static IRoutingPolicy CreatePolicy(PolicyKind kind, ModelCatalog catalog, IModelAvailability availability, HybridWeights weights) =>
        kind switch
        {
            PolicyKind.Capability => new CapabilityPolicy(catalog),
            PolicyKind.Cost => new CostPolicy(catalog),
            PolicyKind.Latency => new LatencyPolicy(catalog, availability),
            PolicyKind.Hybrid => new HybridPolicy(catalog, availability, weights),
            _ => throw new ArgumentException($"Policy {(int)kind} is not one of capability, cost, latency, hybrid.", nameof(kind)),
        };

    public RouteCascade Cascade => cascade;

    /// <summary>
    /// Routes synchronously. With an LLM judge configured and asked, this waits for it on the caller's thread; doors
    /// that can await use <see cref="RouteAsync"/>.
    /// </summary>
    public RouteResult Route(string prompt, RouteHints hints)
    {
        var pending = RouteAsync(prompt, hints);
        return pending.IsCompleted ? pending.Result : pending.AsTask().GetAwaiter().GetResult();
    }

    public async ValueTask<RouteResult> RouteAsync(string prompt, RouteHints hints, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(hints);
        var start = Stopwatch.GetTimestamp();
        CascadeDecision decided;
        if (hints.RequiredCapability is { Length: > 0 } required)
        {
            decided = new CascadeDecision(required, 1f, CascadeStage.Hint, null);
            cascade.RecordHint();
        }
        else
        {
            decided = await cascade.DecideAsync(prompt, cancellationToken).ConfigureAwait(false);
        }

        return Choose(decided, hints, start) with { Stage = decided.StageName };
    }

    private RouteResult Choose(CascadeDecision decided, RouteHints hints, long start)
    {
        var (task, confidence, unsure) = (decided.Task, decided.Confidence, decided.Unsure);

        var known = tasks.TryGetValue(task, out var entry);
        if (!known && hints.RequiredCapability is { Length: > 0 })
        {
            throw new ArgumentException($"No model in the catalog has the capability '{hints.RequiredCapability}' (no route and no model lists it).");
        }

        var names = known ? entry.Catalog.Models.Select(m => m.Name).ToList() : [];
        if (unsure)
        {
            return Default(task, confidence, start, names, [], [string.Create(CultureInfo.InvariantCulture, $"{decided.Why}: default model {defaultModel}")]);
        }

        if (!known)
        {
            return Default(task, confidence, start, names, [], [$"no route and no model serves {task}: default model {defaultModel}"]);
        }

        var request = new RoutingRequest
        {
            TaskType = task,
            PromptTokens = 0,
            MaxOutputTokens = PricedTokens,

            // No class asked means any will do: Batch is the loosest class and limit.
            Class = hints.LatencyClass ?? LatencyClass.Batch,
            RequestBudget = hints.CostBudgetPer1kTokens,
        };
        var decision = entry.Policy.Choose(request);
        var verdicts = new List<CandidateVerdict>(decision.Candidates.Count);
        foreach (var verdict in decision.Candidates)
        {
            var problem = verdict.Accepted ? RequestLimits.Problem(entry.Catalog.Find(verdict.Model)!, request) : null;
            verdicts.Add(problem is null ? verdict : verdict with { Accepted = false, Reason = problem, Score = 0 });
        }

        // The policy's choice stands unless a hint limit the policy does not apply ruled it out; then the best score left.
        var chosen = verdicts.Find(v => v.Accepted && v.Model == decision.Model)?.Model
            ?? verdicts.Where(v => v.Accepted).MinBy(v => v.Score)?.Model;
        var considered = verdicts.Where(v => v.Accepted).OrderBy(v => v.Model == chosen ? 0 : 1).ThenBy(v => v.Score)
            .Concat(verdicts.Where(v => !v.Accepted)).Select(v => v.Model).ToList();
        var rejections = verdicts.Where(v => !v.Accepted).Select(v => $"{v.Model}: {v.Reason}").ToList();
        if (chosen is null)
        {
            rejections.Add($"{decision.Policy}: no model qualifies for {task}: default model {defaultModel}");
            return Default(task, confidence, start, considered, verdicts, rejections);
        }

        return new RouteResult(chosen, task, confidence, false, Stopwatch.GetElapsedTime(start), considered, rejections)
        {
            Policy = decision.Policy,
            Verdicts = verdicts,
        };
    }

    private RouteResult Default(string task, float confidence, long start, List<string> considered, List<CandidateVerdict> verdicts, List<string> rejections) =>
        new(defaultModel, task, confidence, true, Stopwatch.GetElapsedTime(start), considered, rejections)
        {
            Policy = policyName,
            Verdicts = verdicts,
        };
}
