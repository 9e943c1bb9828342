using System.Globalization;
using System.Net;
using Microsoft.Extensions.Options;
using ModelRouter.Protocol;

namespace ModelRouter.Server.Options;

/// <summary>
/// Checks the configuration at start, naming every problem at once, so a bad file fails before serving. Each problem
/// is one line that starts with the key as it is written in configuration (e.g. "ModelRouter:Scheduler:Threads") and
/// the value found, then says what is allowed.
/// </summary>
public sealed class ServerOptionsValidator : IValidateOptions<ServerOptions>
{
    private const string Root = ServerOptions.SectionName + ":";

    /// <summary>Most threads llama.cpp runs one computation on (GGML_MAX_N_THREADS).</summary>
    private const int MaxThreads = 512;

    /// <summary>Most sequences one llama.cpp context holds (LLAMA_MAX_SEQ; <c>ContextOptions</c> enforces it too).</summary>
    private const int MaxSequences = 256;

    private readonly ServerOptionsBinding? binding;

    public ServerOptionsValidator()
    {
    }

    /// <param name="binding">Values that did not convert to their option's type while binding; reported first.</param>
    public ServerOptionsValidator(ServerOptionsBinding binding)
    {
        ArgumentNullException.ThrowIfNull(binding);
        this.binding = binding;
    }

    public ValidateOptionsResult Validate(string? name, ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = new List<string>(binding?.Problems ?? []);
        ValidateListeners(options, problems);
        var names = ValidateModels(options, problems);
        ValidateBudget(options, problems);
        var remotes = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Remotes.Count; i++)
        {
            ValidateRemote(options.Remotes[i], $"{Root}Remotes:{i}:", names, remotes, problems);
        }

        ValidateRoutes(options, names, remotes, problems);
        ValidatePolicy(options, problems);
        ValidateScheduler(options.Scheduler, problems);
        ValidateLimits(options.Limits, problems);
        Range(problems, "ShutdownTimeoutSeconds", options.ShutdownTimeoutSeconds, 0, 3600, "0 cuts off what is in flight at once");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    /// <summary>
    /// Parses <see cref="ServerOptions.Tcp"/> as the listener does (an IP address, not a host name) and insists on an
    /// explicit port: "127.0.0.1" alone would parse as port 0 and listen somewhere no client looks.
    /// </summary>
    public static bool TryParseTcp(string value, out IPEndPoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(value);
        var hasPort = value.StartsWith('[') ? value.Contains("]:", StringComparison.Ordinal) : value.Count(c => c == ':') == 1;
        if (hasPort && IPEndPoint.TryParse(value, out var parsed))
        {
            endpoint = parsed;
            return true;
        }

        endpoint = new IPEndPoint(IPAddress.None, 0);
        return false;
    }

    private static void ValidateListeners(ServerOptions options, List<string> problems)
    {
        if (string.IsNullOrWhiteSpace(options.Tcp) && string.IsNullOrWhiteSpace(options.UnixSocket))
        {
            problems.Add($"{Root}Tcp and {Root}UnixSocket are both empty: set at least one listener (Tcp host:port or UnixSocket path)");
        }

        if (!string.IsNullOrWhiteSpace(options.Tcp) && !TryParseTcp(options.Tcp, out _))
        {
            problems.Add($"{Root}Tcp = '{options.Tcp}': not an IP address and port 0..65535 (e.g. 127.0.0.1:7878 or [::1]:7878)");
        }

        if (!string.IsNullOrWhiteSpace(options.Http))
        {
            if (!Doors.Http.HttpDoorService.TryParseUrl(options.Http, out _))
            {
                problems.Add($"{Root}Http = '{options.Http}': is not an http:// URL with a port 0..65535 such as http://127.0.0.1:8080");
            }
            else if (!Doors.Http.HttpDoorService.IsLoopback(options.Http) && string.IsNullOrEmpty(options.AuthToken) && !options.AllowAnonymousRemoteHttp)
            {
                problems.Add($"{Root}Http = '{options.Http}': listens beyond loopback with no AuthToken: set AuthToken, bind 127.0.0.1, or set AllowAnonymousRemoteHttp=true to serve anyone on the network");
            }
        }

        if (!string.IsNullOrWhiteSpace(options.UnixSocket))
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(options.UnixSocket));
            if (directory is null || !Directory.Exists(directory))
            {
                problems.Add($"{Root}UnixSocket = '{options.UnixSocket}': the directory '{directory}' does not exist");
            }
        }
    }

    private static HashSet<string> ValidateModels(ServerOptions options, List<string> problems)
    {
        if (options.Models.Count == 0)
        {
            problems.Add($"{Root}Models is empty: the catalog needs at least one model");
        }

        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < options.Models.Count; i++)
        {
            var model = options.Models[i];
            var key = $"{Root}Models:{i}:";
            if (string.IsNullOrWhiteSpace(model.Name))
            {
                problems.Add($"{key}Name = '{model.Name}': empty");
            }
            else if (!names.TryAdd(model.Name, i))
            {
                problems.Add($"{key}Name = '{model.Name}': repeated (also {Root}Models:{names[model.Name]}:Name)");
            }

            if (string.IsNullOrWhiteSpace(model.Path) || !File.Exists(model.Path))
            {
                problems.Add($"{key}Path = '{model.Path}': no such file");
            }

            // Names bind to the enums case-insensitively; a number would bind to any value, so only defined ones pass.
            if (!Enum.IsDefined(model.SizeClass))
            {
                problems.Add($"{key}SizeClass = '{model.SizeClass}': not one of tiny, small, medium, large, xlarge, huge");
            }

            if (!Enum.IsDefined(model.LatencyClass))
            {
                problems.Add($"{key}LatencyClass = '{model.LatencyClass}': not one of realtime, interactive, batch");
            }

            if (!double.IsFinite(model.CostPer1kTokens) || model.CostPer1kTokens < 0)
            {
                problems.Add($"{key}CostPer1kTokens = {Show(model.CostPer1kTokens)}: must be a finite number ≥ 0");
            }

            Range(problems, $"Models:{i}:Priority", model.Priority, 0, int.MaxValue, "higher stays resident longer");
            Range(problems, $"Models:{i}:KeepAliveSeconds", model.KeepAliveSeconds, 0, int.MaxValue, "0 keeps the model until space is needed");
        }

        if (options.DefaultModel is { Length: > 0 } fallback && !names.ContainsKey(fallback))
        {
            problems.Add($"{Root}DefaultModel = '{fallback}': not a model of the catalog");
        }

        if (options.EmbeddingModel is { Length: > 0 } embedder && !names.ContainsKey(embedder))
        {
            problems.Add($"{Root}EmbeddingModel = '{embedder}': not a model of the catalog");
        }

        return [.. names.Keys];
    }

    /// <summary>
    /// The budget must hold every pinned model (they are never evicted) and beside them the smallest other model, or
    /// some model could never be served. Model sizes are their file sizes: a little more than the weights the pool
    /// counts (the file also holds metadata and vocabulary), which is close enough to catch a budget that cannot work.
    /// </summary>
    private static void ValidateBudget(ServerOptions options, List<string> problems)
    {
        if (options.DeviceBudgetBytes <= 0)
        {
            problems.Add($"{Root}DeviceBudgetBytes = {Show(options.DeviceBudgetBytes)}: must be > 0 (bytes of weights the resident models may use together)");
            return;
        }

        var sizes = options.Models.Where(m => !string.IsNullOrWhiteSpace(m.Path) && File.Exists(m.Path)).Select(m => (Model: m, Bytes: new FileInfo(m.Path).Length)).ToList();
        if (sizes.Count != options.Models.Count || sizes.Count == 0)
        {
            return; // a missing file has its own error; the budget cannot be judged without every size
        }

        var pinned = sizes.Where(s => s.Model.Pinned).ToList();
        var smallest = sizes.Where(s => !s.Model.Pinned).OrderBy(s => s.Bytes).FirstOrDefault();
        var needed = pinned.Sum(s => s.Bytes) + (smallest.Model is null ? 0 : smallest.Bytes);
        if (options.DeviceBudgetBytes < needed)
        {
            var parts = new List<string>();
            if (pinned.Count > 0)
            {
                parts.Add($"the pinned models ({string.Join(", ", pinned.Select(s => $"{s.Model.Name} {Show(s.Bytes)}"))})");
            }

            if (smallest.Model is not null)
            {
                parts.Add($"the smallest other model ({smallest.Model.Name} {Show(smallest.Bytes)})");
            }

            problems.Add($"{Root}DeviceBudgetBytes = {Show(options.DeviceBudgetBytes)}: too small: {string.Join(" and ", parts)} need {Show(needed)} bytes together, measured by their file sizes");
        }
    }

    private static void ValidateRoutes(ServerOptions options, HashSet<string> names, HashSet<string> remotes, List<string> problems)
    {
        for (var i = 0; i < options.Routes.Count; i++)
        {
            var route = options.Routes[i];
            var key = $"{Root}Routes:{i}:";
            if (string.IsNullOrWhiteSpace(route.Task))
            {
                problems.Add($"{key}Task = '{route.Task}': empty (the task type this route serves)");
            }

            for (var m = 0; m < route.Models.Count; m++)
            {
                if (!names.Contains(route.Models[m]))
                {
                    problems.Add($"{key}Models:{m} = '{route.Models[m]}': not a model of the catalog (route '{route.Task}')");
                }
            }

            for (var r = 0; r < route.Remotes.Count; r++)
            {
                if (!remotes.Contains(route.Remotes[r]))
                {
                    problems.Add($"{key}Remotes:{r} = '{route.Remotes[r]}': not a name in {Root}Remotes (route '{route.Task}')");
                }
            }
        }
    }

    private static void ValidatePolicy(ServerOptions options, List<string> problems)
    {
        if (!Enum.IsDefined(options.Policy))
        {
            problems.Add($"{Root}Policy = '{options.Policy}': not one of capability, cost, latency, hybrid");
        }

        var w = options.HybridWeights;
        foreach (var (key, weight) in new[] { ("Capability", w.Capability), ("Cost", w.Cost), ("Latency", w.Latency) })
        {
            if (!double.IsFinite(weight) || weight < 0)
            {
                problems.Add($"{Root}HybridWeights:{key} = {Show(weight)}: must be a finite number ≥ 0");
            }
        }

        if (w.Capability == 0 && w.Cost == 0 && w.Latency == 0)
        {
            problems.Add($"{Root}HybridWeights = 0, 0, 0: at least one of Capability, Cost and Latency must be > 0 (every candidate would tie)");
        }

        var a = options.Availability;
        Range(problems, "Availability:ServiceTimeMs", a.ServiceTimeMs, 0, int.MaxValue);
        Range(problems, "Availability:PromptMs", a.PromptMs, 0, int.MaxValue);
        Range(problems, "Availability:HostBandwidthMBps", a.HostBandwidthMBps, 1, int.MaxValue);
        Range(problems, "Availability:DiskBandwidthMBps", a.DiskBandwidthMBps, 1, int.MaxValue);
    }

    private static void ValidateScheduler(SchedulerSettings s, List<string> problems)
    {
        Range(problems, "Scheduler:QueueCapacityPerModel", s.QueueCapacityPerModel, 1, int.MaxValue);
        Range(problems, "Scheduler:MaxBatchPerModel", s.MaxBatchPerModel, 1, MaxSequences, "llama.cpp holds at most 256 sequences in one context");
        Range(problems, "Scheduler:ContextPerSequence", s.ContextPerSequence, 64, 1 << 20);
        Range(problems, "Scheduler:Threads", s.Threads, 0, MaxThreads, "0 uses every core; llama.cpp runs at most 512");
        Range(problems, "Scheduler:EmbeddingTokensPerInput", s.EmbeddingTokensPerInput, 1, 1 << 20);
        Range(problems, "Scheduler:EmbeddingInputsPerDecode", s.EmbeddingInputsPerDecode, 1, MaxSequences, "llama.cpp holds at most 256 sequences in one context");
        Range(problems, "Scheduler:MinResidencyMs", s.MinResidencyMs, 0, int.MaxValue);
        Range(problems, "Scheduler:MaxWaitMs", s.MaxWaitMs, 1, int.MaxValue);
        Range(problems, "Scheduler:MaxQueueWaitSeconds", s.MaxQueueWaitSeconds, 1, 86_400);
        if (s.PrefixCacheTokens is { } prefix)
        {
            Range(problems, "Scheduler:PrefixCacheTokens", prefix, 0, int.MaxValue, "0 turns prefix reuse off; unset keeps what the context holds");
        }

        Range(problems, "Scheduler:HostKvBudgetBytes", s.HostKvBudgetBytes, 0, 1L << 40, "0 saves no cached sequence when a context is released");
    }

    private static void ValidateLimits(LimitOptions l, List<string> problems)
    {
        Range(problems, "Limits:MaxRequestsInFlight", l.MaxRequestsInFlight, 1, int.MaxValue);
        Range(problems, "Limits:MaxEmbeddingInputs", l.MaxEmbeddingInputs, 1, int.MaxValue);
        Range(problems, "Limits:MaxHttpBodyBytes", l.MaxHttpBodyBytes, 1024, int.MaxValue);

        // Announced in hello-ok: a client refuses a session whose payload limit is above the protocol's ceiling.
        Range(problems, "Limits:MaxFrameBytes", l.MaxFrameBytes, 1024, ProtocolLimits.AbsoluteMaxPayloadBytes, "the protocol's ceiling is 16 MiB; clients refuse a larger limit");
        Range(problems, "Limits:MaxPromptBytes", l.MaxPromptBytes, 1, Math.Max(1, l.MaxFrameBytes), "a prompt must fit in one frame: at most MaxFrameBytes");
        Range(problems, "Limits:MaxTokens", l.MaxTokens, 1, int.MaxValue);
        Range(problems, "Limits:MaxRequestsInFlightPerConnection", l.MaxRequestsInFlightPerConnection, 1, int.MaxValue);
        Range(problems, "Limits:OutputPauseThresholdBytes", l.OutputPauseThresholdBytes, 1024, 1L << 40);
        Range(problems, "Limits:HandshakeTimeoutMs", l.HandshakeTimeoutMs, 1, 3_600_000);
        Range(problems, "Limits:IdleTimeoutSeconds", l.IdleTimeoutSeconds, 1, 86_400);
        Range(problems, "Limits:MinFrameBytesPerSecond", l.MinFrameBytesPerSecond, 1, int.MaxValue);

        // Kestrel, which applies the same rate to HTTP bodies, checks rates once a second and refuses a shorter grace period.
        Range(problems, "Limits:FrameGracePeriodMs", l.FrameGracePeriodMs, 1001, 3_600_000, "Kestrel needs a grace period over 1 s");
        Range(problems, "Limits:MaxConnections", l.MaxConnections, 1, int.MaxValue);
        Range(problems, "Limits:MaxConnectionsPerAddress", l.MaxConnectionsPerAddress, 1, int.MaxValue);

        // Below one whole frame, a connection sending a frame of the allowed size would wait for room forever.
        Range(problems, "Limits:MaxBufferedFrameBytes", l.MaxBufferedFrameBytes, Math.Clamp(l.MaxFrameBytes, 1024, ProtocolLimits.AbsoluteMaxPayloadBytes), long.MaxValue, "at least MaxFrameBytes, or a full-size frame never fits");
    }

    private static void ValidateRemote(RemoteOptions remote, string key, HashSet<string> models, HashSet<string> remotes, List<string> problems)
    {
        if (string.IsNullOrWhiteSpace(remote.Name))
        {
            problems.Add($"{key}Name = '{remote.Name}': empty");
        }
        else if (models.Contains(remote.Name))
        {
            problems.Add($"{key}Name = '{remote.Name}': already a catalog model's name");
        }
        else if (!remotes.Add(remote.Name))
        {
            problems.Add($"{key}Name = '{remote.Name}': repeated");
        }

        if (!Uri.TryCreate(remote.Endpoint, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
        {
            problems.Add($"{key}Endpoint = '{remote.Endpoint}': not an absolute http or https URL");
        }

        if (string.IsNullOrWhiteSpace(remote.Model))
        {
            problems.Add($"{key}Model = '{remote.Model}': empty (the upstream's model id)");
        }

        if (remote.ApiKeyVariable is { Length: > 0 } variable && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(variable)))
        {
            problems.Add($"{key}ApiKeyVariable = '{variable}': the environment variable {variable} is not set");
        }

        Range(problems, key, "TimeoutMs", remote.TimeoutMs, 10, 3_600_000);
        Range(problems, key, "Retries", remote.Retries, 0, 10);
        Range(problems, key, "CooldownSeconds", remote.CooldownSeconds, 1, 86_400);
    }

    private static void Range(List<string> problems, string key, long value, long min, long max, string? why = null) =>
        Range(problems, Root, key, value, min, max, why);

    private static void Range(List<string> problems, string prefix, string key, long value, long min, long max, string? why = null)
    {
        if (value >= min && value <= max)
        {
            return;
        }

        var allowed = max == int.MaxValue || max == long.MaxValue ? $"≥ {Show(min)}" : $"within {Show(min)}..{Show(max)}";
        problems.Add($"{prefix}{key} = {Show(value)}: must be {allowed}{(why is null ? "" : $" ({why})")}");
    }

    private static string Show(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Show(double value) => value.ToString(CultureInfo.InvariantCulture);
}
