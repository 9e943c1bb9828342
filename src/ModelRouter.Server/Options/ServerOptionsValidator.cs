using Microsoft.Extensions.Options;

namespace ModelRouter.Server.Options;

/// <summary>Checks the configuration at start, naming every problem at once, so a bad file fails before serving.</summary>
public sealed class ServerOptionsValidator : IValidateOptions<ServerOptions>
{

    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>();
        if (string.IsNullOrWhiteSpace(options.Tcp) && string.IsNullOrWhiteSpace(options.UnixSocket))
        {
            problems.Add("no listener: set Tcp (host:port) or UnixSocket (path)");
        }

        if (!string.IsNullOrWhiteSpace(options.Http))
        {
            if (!Doors.Http.HttpDoorService.TryParseUrl(options.Http, out _))
            {
                problems.Add($"Http '{options.Http}' is not an http:// URL such as http://127.0.0.1:8080");
            }
            else if (!Doors.Http.HttpDoorService.IsLoopback(options.Http) && string.IsNullOrEmpty(options.AuthToken) && !options.AllowAnonymousRemoteHttp)
            {
                problems.Add($"Http '{options.Http}' listens beyond loopback with no AuthToken: set AuthToken, bind 127.0.0.1, or set AllowAnonymousRemoteHttp=true to serve anyone on the network");
            }
        }

        if (options.Limits.MaxRequestsInFlight < 1 || options.Limits.MaxEmbeddingInputs < 1 || options.Limits.MaxHttpBodyBytes < 1024)
        {
            problems.Add("Limits: MaxRequestsInFlight and MaxEmbeddingInputs must be ≥ 1 and MaxHttpBodyBytes ≥ 1024");
        }

        if (!string.IsNullOrEmpty(options.EmbeddingModel) && !options.Models.Any(m => m.Name == options.EmbeddingModel))
        {
            problems.Add($"EmbeddingModel '{options.EmbeddingModel}' is not a model of the catalog");
        }

        if (!string.IsNullOrWhiteSpace(options.Tcp) && !System.Net.IPEndPoint.TryParse(options.Tcp, out _))
        {
            problems.Add($"Tcp '{options.Tcp}' is not host:port with an IP address (e.g. 127.0.0.1:7878)");
        }

        if (options.DeviceBudgetBytes <= 0)
        {
            problems.Add("DeviceBudgetBytes must be positive");
        }

        if (options.Models.Count == 0)
        {
            problems.Add("the catalog has no Models");
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var model in options.Models)
        {
            if (string.IsNullOrWhiteSpace(model.Name) || !names.Add(model.Name))
            {
                problems.Add($"model name '{model.Name}' is empty or repeated");
            }

            if (string.IsNullOrWhiteSpace(model.Path) || !File.Exists(model.Path))
            {
                problems.Add($"model '{model.Name}': file '{model.Path}' does not exist");
            }

            // Names bind to the enums case-insensitively; a number would bind to any value, so only defined ones pass.
            if (!Enum.IsDefined(model.SizeClass))
            {
                problems.Add($"model '{model.Name}': SizeClass {model.SizeClass} is not one of tiny, small, medium, large, xlarge, huge");
            }

            if (!Enum.IsDefined(model.LatencyClass))
            {
                problems.Add($"model '{model.Name}': LatencyClass {model.LatencyClass} is not one of realtime, interactive, batch");
            }
        }

        var remotes = new HashSet<string>(StringComparer.Ordinal);
        foreach (var remote in options.Remotes)
        {
            ValidateRemote(remote, names, remotes, problems);
        }

        foreach (var route in options.Routes)
        {
            foreach (var model in route.Models.Where(m => !names.Contains(m)))
            {
                problems.Add($"route '{route.Task}' names unknown model '{model}'");
            }

            foreach (var remote in route.Remotes.Where(r => !remotes.Contains(r)))
            {
                problems.Add($"route '{route.Task}' names unknown remote '{remote}' (not in Remotes)");
            }
        }

        if (options.DefaultModel is { Length: > 0 } fallback && !names.Contains(fallback))
        {
            problems.Add($"DefaultModel '{fallback}' is not in the catalog");
        }

        if (!Enum.IsDefined(options.Policy))
        {
            problems.Add($"Policy {options.Policy} is not one of capability, cost, latency, hybrid");
        }

        var w = options.HybridWeights;
        if (!IsWeight(w.Capability) || !IsWeight(w.Cost) || !IsWeight(w.Latency) || w.Capability + w.Cost + w.Latency <= 0)
        {
            problems.Add($"HybridWeights: Capability ({w.Capability}), Cost ({w.Cost}) and Latency ({w.Latency}) must be finite and ≥ 0, and not all 0 (every candidate would tie)");
        }

        var a = options.Availability;
        if (a.ServiceTimeMs < 0 || a.PromptMs < 0 || a.HostBandwidthMBps < 1 || a.DiskBandwidthMBps < 1)
        {
            problems.Add("Availability: ServiceTimeMs and PromptMs must be ≥ 0, HostBandwidthMBps and DiskBandwidthMBps ≥ 1");
        }

        var s = options.Scheduler;
        if (s.QueueCapacityPerModel < 1 || s.MaxBatchPerModel < 1 || s.ContextPerSequence < 64 || s.MinResidencyMs < 0 || s.MaxWaitMs < 1)
        {
            problems.Add("Scheduler: QueueCapacityPerModel and MaxBatchPerModel must be ≥ 1, ContextPerSequence ≥ 64, MinResidencyMs ≥ 0, MaxWaitMs ≥ 1");
        }

        var l = options.Limits;
        if (l.MaxFrameBytes < 1024 || l.MaxPromptBytes < 1 || l.MaxPromptBytes > l.MaxFrameBytes || l.MaxTokens < 1 || l.MaxRequestsInFlightPerConnection < 1)
        {
            problems.Add("Limits: MaxFrameBytes ≥ 1024, 1 ≤ MaxPromptBytes ≤ MaxFrameBytes, MaxTokens ≥ 1, MaxRequestsInFlightPerConnection ≥ 1");
        }

        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static void ValidateRemote(RemoteOptions remote, HashSet<string> models, HashSet<string> remotes, List<string> problems)
    {
        var label = $"remote '{remote.Name}'";
        if (string.IsNullOrWhiteSpace(remote.Name) || !remotes.Add(remote.Name) || models.Contains(remote.Name))
        {
            problems.Add($"{label}: the name is empty, repeated, or a catalog model's");
        }

        if (!Uri.TryCreate(remote.Endpoint, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
        {
            problems.Add($"{label}: Endpoint '{remote.Endpoint}' is not an absolute http or https URL");
        }

        if (string.IsNullOrWhiteSpace(remote.Model))
        {
            problems.Add($"{label}: Model (the upstream's model id) is empty");
        }

        if (remote.ApiKeyVariable is { Length: > 0 } variable && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable)))
        {
            problems.Add($"{label}: the environment variable {variable} (ApiKeyVariable) is not set");
        }

        if (remote.TimeoutMs is < 10 or > 3_600_000 || remote.Retries is < 0 or > 10 || remote.CooldownSeconds is < 1 or > 86_400)
        {
            problems.Add($"{label}: TimeoutMs must be within 10..3600000, Retries 0..10, CooldownSeconds 1..86400");
        }
    }

    private static bool IsWeight(double weight) => double.IsFinite(weight) && weight >= 0;
}
