using ModelRouter.Routing.Policies;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Options;

/// <summary>
/// The server's configuration, bound from the "ModelRouter" section of appsettings.json, the --config file,
/// MODELROUTER__* environment variables and the command line, and validated at start.
/// </summary>
public sealed class ServerOptions
{
    public const string SectionName = "ModelRouter";

    /// <summary>TCP endpoint "host:port"; empty disables TCP.</summary>
    public string? Tcp { get; set; } = "127.0.0.1:7878";

    /// <summary>
    /// The OpenAI-compatible HTTP door: a Kestrel URL such as "http://127.0.0.1:8080" (port 0 picks a free one); empty
    /// disables it. A non-loopback address needs an AuthToken unless <see cref="AllowAnonymousRemoteHttp"/> is set.
    /// </summary>
    public string? Http { get; set; }

    /// <summary>Serve the HTTP door on a non-loopback address without a token (explicit opt-in; off by default).</summary>
    public bool AllowAnonymousRemoteHttp { get; set; }

    /// <summary>Unix-domain socket path (created owner-only); empty disables it.</summary>
    public string? UnixSocket { get; set; }

    /// <summary>Shared token every client must present (constant-time compare); empty allows anonymous clients.</summary>
    public string? AuthToken { get; set; }

    /// <summary>Token that unlocks admin operations (preload, pin, unpin, evict); empty disables them.</summary>
    public string? AdminToken { get; set; }

    /// <summary>Bytes of weights the resident models may use together (VRAM on a GPU, RAM on the CPU path).</summary>
    public long DeviceBudgetBytes { get; set; } = 8L << 30;

    /// <summary>
    /// CPU path: evicted models' pages stay committed (up to <see cref="DeviceBudgetBytes"/> in all) and the next
    /// restore copies into them, instead of faulting in fresh pages that the kernel must zero and, on a VM with free
    /// page reporting, the hypervisor must back again (10-20x slower when they have been free for a few seconds). The
    /// process then keeps its peak of resident weights, as VRAM would. False: evict hands the pages back at once.
    /// </summary>
    public bool KeepEvictedCpuPages { get; set; } = true;

    /// <summary>Warm every model's host tier at start so that no swap reads the disk.</summary>
    public bool PrefetchAtStart { get; set; } = true;

    /// <summary>Model used when the classifier is unsure or no candidate qualifies (default: the first model).</summary>
    public string? DefaultModel { get; set; }

    /// <summary>
    /// Model that embeds when a request names none (default: the first model listing the "embeddings" capability,
    /// else <see cref="DefaultModel"/>).
    /// </summary>
    public string? EmbeddingModel { get; set; }

    public List<CatalogModelOptions> Models { get; set; } = [];

    public List<RouteOptions> Routes { get; set; } = [];

    /// <summary>Remote OpenAI-compatible endpoints that routes may try before their local model (<see cref="RouteOptions.Remotes"/>).</summary>
    public List<RemoteOptions> Remotes { get; set; } = [];

    /// <summary>
    /// The policy that picks among a task's candidates: capability (smallest able), cost (cheapest within budget),
    /// latency (soonest first token, swap-aware) or hybrid (a weighted sum of the three; the default).
    /// </summary>
    public PolicyKind Policy { get; set; } = PolicyKind.Hybrid;

    /// <summary>Weights of the hybrid policy's terms (ignored by the other policies).</summary>
    public HybridWeightSettings HybridWeights { get; set; } = new();

    /// <summary>The figures the swap-aware first-token estimate rests on (latency and hybrid policies).</summary>
    public AvailabilitySettings Availability { get; set; } = new();

    public SchedulerSettings Scheduler { get; set; } = new();

    public LimitOptions Limits { get; set; } = new();

    public RouterCascadeOptions Cascade { get; set; } = new();

    /// <summary>
    /// On SIGTERM or Ctrl+C: how long requests in flight and queued may take to finish before what is left gets a
    /// shutting-down error (socket) or a 503 / final SSE error event (HTTP). The exit code says whether any was cut off.
    /// </summary>
    public int ShutdownTimeoutSeconds { get; set; } = 30;
}

/// <summary>The policy that picks among a task's candidates (bound from its name, case-insensitively).</summary>
public enum PolicyKind
{
    /// <summary>The smallest model able to serve the task.</summary>
    Capability,

    /// <summary>The cheapest within the budget.</summary>
    Cost,

    /// <summary>The soonest first token, swap-aware.</summary>
    Latency,

    /// <summary>A weighted sum of the three (<see cref="ServerOptions.HybridWeights"/>).</summary>
    Hybrid,
}

/// <summary>One model of the catalog.</summary>
public sealed class CatalogModelOptions
{
    public string Name { get; set; } = "";

    public string Path { get; set; } = "";

    /// <summary>Task types it serves well (classification, summarization, extraction, code, reasoning, creative, chat, open_qa ...).</summary>
    public List<string> Capabilities { get; set; } = [];

    /// <summary>tiny, small, medium, large, xlarge: used by the capability policy to pick the smallest that qualifies.</summary>
    public SizeClass SizeClass { get; set; } = SizeClass.Small;

    public double CostPer1kTokens { get; set; }

    /// <summary>realtime, interactive or batch: the fastest class this model can serve.</summary>
    public LatencyClass LatencyClass { get; set; } = LatencyClass.Interactive;

    public int Priority { get; set; }

    public bool Pinned { get; set; }

    /// <summary>
    /// Chat template for chat requests: a llama.cpp built-in name (chatml, llama3, ...) or a Jinja template text that
    /// llama.cpp recognises; empty takes the template in the model's GGUF metadata.
    /// </summary>
    public string? ChatTemplate { get; set; }

    /// <summary>Evicted after this many idle seconds; 0 keeps it until space is needed.</summary>
    public int KeepAliveSeconds { get; set; }

    /// <summary>
    /// When the model file changes under the running server (size, mtime, inode or content check differ at a restore):
    /// false (default) reports the model failed until the file is restored or the server restarts; true reloads it from
    /// the new file.
    /// </summary>
    public bool ReloadOnChange { get; set; }
}

/// <summary>
/// A task type and the only models that may serve it: the policy chooses among them (whatever their Capabilities),
/// and their order breaks ties. When none qualifies, DefaultModel serves.
/// </summary>
public sealed class RouteOptions
{
    public string Task { get; set; } = "";

    public List<string> Models { get; set; } = [];

    /// <summary>
    /// Names from <see cref="ServerOptions.Remotes"/> tried in order before the local model the policy picks: a
    /// fallback chain that moves on at a failure, timeout, rate limit or overload and always ends on the local
    /// model. Empty: the local model only. Only requests the router routes take the chain; a request naming a model
    /// goes to that model.
    /// </summary>
    public List<string> Remotes { get; set; } = [];
}

/// <summary>
/// A remote model behind an OpenAI-compatible API (POST {Endpoint}/v1/chat/completions, streamed). Its failures are
/// retried, then it is skipped while it cools down (circuit breaker), and the chain moves on.
/// </summary>
public sealed class RemoteOptions
{
    /// <summary>The name clients see in the done frame when this endpoint answered (must not be a catalog model's).</summary>
    public string Name { get; set; } = "";

    /// <summary>Base URL, http or https (e.g. https://api.openai.com); /v1/chat/completions is appended.</summary>
    public string Endpoint { get; set; } = "";

    /// <summary>The upstream's model id sent in the request body.</summary>
    public string Model { get; set; } = "";

    /// <summary>
    /// Name of the environment variable that holds the API key (sent as a bearer token), so the key never sits in a
    /// config file; empty: no key.
    /// </summary>
    public string? ApiKeyVariable { get; set; }

    /// <summary>How long one attempt may wait for the first piece of the answer.</summary>
    public int TimeoutMs { get; set; } = 30_000;

    /// <summary>Retries of a transient failure (5xx, 429 with a short Retry-After, broken connection) before moving on.</summary>
    public int Retries { get; set; } = 1;

    /// <summary>After repeated failures the endpoint is skipped without waiting for this long.</summary>
    public int CooldownSeconds { get; set; } = 30;
}

/// <summary>Weights of the hybrid policy: each term is scaled to 0..1 before weighting, so 1/1/1 weighs them alike.</summary>
public sealed class HybridWeightSettings
{
    public double Capability { get; set; } = 1;

    public double Cost { get; set; } = 1;

    public double Latency { get; set; } = 1;
}

/// <summary>
/// Inputs of <see cref="Routing.ServerModelAvailability"/>'s estimate of the time to a model's first token. They are
/// configured rather than measured on purpose: the estimate only has to rank models and catch the swap or queue that
/// would break a latency class's limit, and a fixed figure keeps routing decisions reproducible.
/// </summary>
public sealed class AvailabilitySettings
{
    /// <summary>Mean time one batch of requests holds a model (a full batch ahead of a request delays it this long).</summary>
    public int ServiceTimeMs { get; set; } = 500;

    /// <summary>Prompt processing before the first token (the estimate does not know the prompt's length).</summary>
    public int PromptMs { get; set; } = 20;

    /// <summary>Assumed host-to-device copy rate for a Warm model that has never been restored (MB/s).</summary>
    public int HostBandwidthMBps { get; set; } = 8000;

    /// <summary>Assumed disk read rate: a Cold model is read at this rate before it is copied (MB/s).</summary>
    public int DiskBandwidthMBps { get; set; } = 1000;
}

/// <summary>Scheduler settings as configured (mapped to <see cref="SchedulerOptions"/>).</summary>
public sealed class SchedulerSettings
{
    public int QueueCapacityPerModel { get; set; } = 256;

    public int MaxBatchPerModel { get; set; } = 8;

    public int ContextPerSequence { get; set; } = 2048;

    public int Threads { get; set; }

    /// <summary>Most tokens one embedding input may have.</summary>
    public int EmbeddingTokensPerInput { get; set; } = 512;

    /// <summary>Embedding inputs decoded together.</summary>
    public int EmbeddingInputsPerDecode { get; set; } = 8;

    public int MinResidencyMs { get; set; } = 250;

    public int MaxWaitMs { get; set; } = 2000;

    /// <summary>Deadline of a queued request: one that has not started this long after it was accepted fails with a timeout.</summary>
    public int MaxQueueWaitSeconds { get; set; } = 300;

    /// <summary>Tokens a sequence may generate while others wait for a slot before it yields its slot (fair service).</summary>
    public int FairShareTokens { get; set; } = 256;

    /// <summary>Prefix reuse: tokens the idle sequences of a model's context keep for later prompts (unset: the whole context; 0: off).</summary>
    public int? PrefixCacheTokens { get; set; }

    /// <summary>Host memory per model context for cached sequences saved when the context is released (0: none saved).</summary>
    public long HostKvBudgetBytes { get; set; } = 256L << 20;

    public SchedulerOptions ToSchedulerOptions() => new()
    {
        QueueCapacityPerModel = QueueCapacityPerModel,
        MaxBatchPerModel = MaxBatchPerModel,
        ContextPerSequence = ContextPerSequence,
        Threads = Threads,
        EmbeddingTokensPerInput = EmbeddingTokensPerInput,
        EmbeddingInputsPerDecode = EmbeddingInputsPerDecode,
        MinResidency = TimeSpan.FromMilliseconds(MinResidencyMs),
        MaxWait = TimeSpan.FromMilliseconds(MaxWaitMs),
        MaxQueueWait = TimeSpan.FromSeconds(MaxQueueWaitSeconds),
        FairShareTokens = FairShareTokens,
        PrefixCacheTokens = PrefixCacheTokens,
        HostKvBudgetBytes = HostKvBudgetBytes,
    };
}

/// <summary>Limits of both doors (see docs/protocol.md and docs/http.md).</summary>
public sealed class LimitOptions
{
    /// <summary>Requests in flight in the whole server (both doors); more are refused as overloaded.</summary>
    public int MaxRequestsInFlight { get; set; } = 1024;

    /// <summary>Inputs one embeddings request may carry.</summary>
    public int MaxEmbeddingInputs { get; set; } = 256;

    /// <summary>Bytes of an HTTP request body (the JSON); larger bodies get 413.</summary>
    public int MaxHttpBodyBytes { get; set; } = 4 << 20;

    public int MaxFrameBytes { get; set; } = 1 << 20;

    public int MaxPromptBytes { get; set; } = 256 << 10;

    public int MaxTokens { get; set; } = 4096;

    public int MaxRequestsInFlightPerConnection { get; set; } = 64;

    /// <summary>Bytes buffered toward a slow client before its connection stops reading (backpressure).</summary>
    public long OutputPauseThresholdBytes { get; set; } = 1 << 20;

    /// <summary>A new connection must complete its handshake (socket Hello; HTTP request headers) within this time.</summary>
    public int HandshakeTimeoutMs { get; set; } = 10_000;

    /// <summary>A connection with nothing in flight and no bytes received for this long is closed (HTTP: keep-alive timeout).</summary>
    public int IdleTimeoutSeconds { get; set; } = 120;

    /// <summary>
    /// Minimum rate while a frame (HTTP: a request body) is being received, after <see cref="FrameGracePeriodMs"/>; a
    /// slower sender is disconnected (Kestrel's MinRequestBodyDataRate for HTTP).
    /// </summary>
    public int MinFrameBytesPerSecond { get; set; } = 1024;

    /// <summary>Time a frame may take before <see cref="MinFrameBytesPerSecond"/> is enforced.</summary>
    public int FrameGracePeriodMs { get; set; } = 5_000;

    /// <summary>Open connections per door (socket listeners together; HTTP); more are refused at accept.</summary>
    public int MaxConnections { get; set; } = 1024;

    /// <summary>Open socket connections from one remote IP address (Unix-socket clients count as one address).</summary>
    public int MaxConnectionsPerAddress { get; set; } = 128;

    /// <summary>
    /// Bytes held for partly received frames across all socket connections; a connection whose next frame would
    /// exceed it waits (backpressure), and one that stalls past the frame rate is closed, so a flood cannot grow memory.
    /// </summary>
    public long MaxBufferedFrameBytes { get; set; } = 64L << 20;
}
