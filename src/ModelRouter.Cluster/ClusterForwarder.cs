using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;
using RuntimeFinish = ModelRouter.Runtime.Generation.FinishReason;

namespace ModelRouter.Cluster;

/// <summary>
/// Forwards a routed request to the node the <see cref="ClusterRouter"/> picks from this node's view of the directory,
/// over the nodes' own socket protocol: authenticated with the cluster's token, streamed, one multiplexed connection per
/// node (opened on first use, replaced when it breaks), the request flagged as forwarded so that the receiver serves it
/// itself. A stale view (this node cannot reach the directory) forwards nothing and takes nothing forwarded.
/// </summary>
public sealed partial class ClusterForwarder : IRequestForwarder, IAsyncDisposable
{
    private readonly ClusterView view;
    private readonly ClusterRouter router;
    private readonly ClusterSettings settings;
    private readonly string token;
    private readonly ILogger<ClusterForwarder> logger;
    private readonly ConcurrentDictionary<string, Lazy<Task<ModelRouterClient>>> connections = new(StringComparer.Ordinal);

    // Forwards without their end yet, by node: cancelled when membership says that node is gone (see NodeLeft).
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<long, CancellationTokenSource>> open = new(StringComparer.Ordinal);
    private long nextForward;
    private int disposed;
    private int turn = -1;

    public ClusterForwarder(ClusterView view, ClusterRouter router, IOptions<ClusterSettings> settings, IOptions<ServerOptions> server,
        ILogger<ClusterForwarder> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(server);
        this.view = view;
        this.router = router;
        this.settings = settings.Value;
        this.logger = logger;
        token = this.settings.ForwardToken ?? server.Value.AuthToken ?? "";
        view.NodesLeft += NodeLeft;
    }

    /// <summary>
    /// Membership declared these nodes gone: the forwards still open to them end now rather than at the first-token bound
    /// (a hung node, SIGSTOP or a partition, keeps its connections open): not started, the request is served here; started,
    /// it ends with a typed error.
    /// </summary>
    private void NodeLeft(IReadOnlyList<string> nodes)
    {
        foreach (var node in nodes)
        {
            if (open.TryGetValue(node, out var forwards))
            {
                foreach (var forward in forwards.Values)
                {
                    try
                    {
                        forward.Cancel();
                    }
                    catch (ObjectDisposedException)
                    {
                        // That forward ended meanwhile.
                    }
                }
            }
        }
    }

    public string LocalNode => settings.ResolvedNodeName;

    /// <summary>The directory answered within its staleness bound (the entry lifetime): this node is part of the cluster now.</summary>
    public bool AcceptsForwarded => view.Age is var age && age != Timeout.InfiniteTimeSpan && age <= settings.EntryLifetime;

    public int NodesInView => view.Current.Nodes.Length;

    public ForwardTarget? Choose(string model)
    {
        // A view older than the entry lifetime may send work to a node that has left: serve here until it is fresh.
        if (!AcceptsForwarded)
        {
            return null;
        }

        var directory = view.Current;
        if (settings.Policy != ClusterPolicy.ResidencyAware)
        {
            return Baseline(model, directory);
        }

        if (router.Choose(model, directory, LocalNode) is not { } route)
        {
            return null;
        }

        return new ForwardTarget(route.Node, route.ForwardEndpoint ?? "", route.Reason.ToString());
    }

    /// <summary>The comparison policies, over the nodes a request can reach (those with a forward endpoint, and this one).</summary>
    private ForwardTarget? Baseline(string model, ResidencySnapshot directory)
    {
        var nodes = directory.Nodes
            .Where(n => n.ForwardEndpoint is not null || string.Equals(n.Node, LocalNode, StringComparison.Ordinal))
            .OrderBy(n => n.Node, StringComparer.Ordinal)
            .ToList();
        if (nodes.Count == 0)
        {
            return null;
        }

        NodeResidency chosen;
        if (settings.Policy == ClusterPolicy.RoundRobin)
        {
            chosen = nodes[(int)((uint)Interlocked.Increment(ref turn) % (uint)nodes.Count)];
        }
        else
        {
            var models = directory.Nodes.SelectMany(n => n.Models).Select(m => m.Model).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
            var index = models.IndexOf(model);
            if (index < 0)
            {
                return null;
            }

            chosen = nodes[index % nodes.Count];
        }

        return new ForwardTarget(chosen.Node, chosen.ForwardEndpoint ?? "", settings.Policy.ToString());
    }

    public async IAsyncEnumerable<ForwardedPiece> ForwardAsync(ForwardTarget target, GenerationCommand command, string model,
        [EnumeratorCancellation] CancellationToken cancellation)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(command);
        var client = await ConnectAsync(target, cancellation).ConfigureAwait(false);

        // Until the first piece, the request also ends when the first-token bound passes (then it is served here); at any
        // point, when membership declares the node gone.
        using var gone = new CancellationTokenSource();
        var forwards = open.GetOrAdd(target.Node, _ => new ConcurrentDictionary<long, CancellationTokenSource>());
        var id = Interlocked.Increment(ref nextForward);
        forwards[id] = gone;
        using var unregister = new Unregister(forwards, id);
        using var firstToken = CancellationTokenSource.CreateLinkedTokenSource(cancellation, gone.Token);
        firstToken.CancelAfter(settings.ForwardFirstTokenTimeoutMs);
        var stream = command.Messages is { } messages
            ? client.ChatAsync(Request(command, model, messages), firstToken.Token)
            : client.GenerateAsync(Request(command, model), firstToken.Token);
        var pieces = stream.GetAsyncEnumerator(firstToken.Token);
        await using (pieces.ConfigureAwait(false))
        {
            while (true)
            {
                GenerationChunk chunk;
                try
                {
                    if (!await pieces.MoveNextAsync().ConfigureAwait(false))
                    {
                        yield break;
                    }

                    chunk = pieces.Current;
                }
                catch (ModelRouterException ex) when (!cancellation.IsCancellationRequested)
                {
                    throw Translate(target, client, ex);
                }
                catch (OperationCanceledException ex) when (!cancellation.IsCancellationRequested && gone.IsCancellationRequested)
                {
                    throw new ForwardException(RequestError.ModelUnavailable, $"node {target.Node} left the cluster (membership declared it dead)", ex);
                }
                catch (OperationCanceledException ex) when (!cancellation.IsCancellationRequested)
                {
                    throw new ForwardException(RequestError.Timeout,
                        $"node {target.Node} sent no token within {settings.ForwardFirstTokenTimeoutMs} ms", ex);
                }

                // The bound is on the first token only: once it came, the answer runs as long as it needs.
                firstToken.CancelAfter(Timeout.Infinite);
                yield return chunk.Result is { } result ? new ForwardedPiece("", Done(result)) : new ForwardedPiece(chunk.Text);
            }
        }
    }

    /// <summary>The node's pooled connection, opened now when there is none or the last one broke.</summary>
    private async Task<ModelRouterClient> ConnectAsync(ForwardTarget target, CancellationToken cancellation)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref disposed) != 0, this);
        for (var attempt = 0; ; attempt++)
        {
            var pending = connections.GetOrAdd(target.Endpoint, endpoint => new Lazy<Task<ModelRouterClient>>(() => OpenAsync(endpoint)));
            ModelRouterClient client;
            try
            {
                client = await pending.Value.WaitAsync(cancellation).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is SocketException or TimeoutException or ModelRouterException or IOException)
            {
                connections.TryRemove(new KeyValuePair<string, Lazy<Task<ModelRouterClient>>>(target.Endpoint, pending));
                throw new ForwardException(RequestError.ModelUnavailable, $"node {target.Node} at {target.Endpoint} could not be reached: {ex.Message}", ex);
            }

            if (client.IsConnected && !client.IsDraining)
            {
                return client;
            }

            // Broken or draining (that node is shutting down): drop it, and open one more connection at most.
            if (connections.TryRemove(new KeyValuePair<string, Lazy<Task<ModelRouterClient>>>(target.Endpoint, pending)))
            {
                _ = client.DisposeAsync().AsTask();
            }

            if (attempt == 1)
            {
                throw new ForwardException(RequestError.ModelUnavailable, $"node {target.Node} at {target.Endpoint} is closing its connections");
            }
        }
    }

    private async Task<ModelRouterClient> OpenAsync(string endpoint)
    {
        if (!ClusterSettings.TryParseEndpoint(endpoint, out var address))
        {
            throw new IOException($"'{endpoint}' is not host:port");
        }

        var options = new ModelRouterClientOptions
        {
            ClientName = "modelrouter-node " + LocalNode,
            ConnectTimeout = TimeSpan.FromMilliseconds(settings.ForwardConnectTimeoutMs),
        };
        var client = await ModelRouterClient.ConnectAsync(address, token, options).ConfigureAwait(false);
        LogConnected(logger, LocalNode, endpoint);
        return client;
    }

    private static ForwardException Translate(ForwardTarget target, ModelRouterClient client, ModelRouterException ex)
    {
        if (ex is ModelRouterConnectionException || !client.IsConnected)
        {
            return new ForwardException(RequestError.ModelUnavailable, $"the connection to node {target.Node} broke: {ex.Message}", ex);
        }

        var error = ex.Code switch
        {
            ErrorCode.UnknownModel => RequestError.UnknownModel,
            ErrorCode.PromptTooLong => RequestError.PromptTooLong,
            ErrorCode.InvalidArgument => RequestError.InvalidArgument,
            ErrorCode.MaxTokensExceeded => RequestError.MaxTokensExceeded,
            ErrorCode.Overloaded or ErrorCode.TooManyRequestsInFlight => RequestError.Overloaded,
            ErrorCode.Cancelled => RequestError.Cancelled,
            ErrorCode.ShuttingDown => RequestError.ShuttingDown,
            ErrorCode.Timeout => RequestError.Timeout,
            ErrorCode.ModelUnavailable => RequestError.ModelUnavailable,
            _ => RequestError.Internal,
        };
        return new ForwardException(error, $"node {target.Node}: {ex.Message}", ex);
    }

    private static GenerateRequest Request(GenerationCommand command, string model) => new()
    {
        Prompt = command.Prompt!,
        Model = model,
        Forwarded = true,
        MaxTokens = command.MaxTokens,
        Temperature = command.Temperature,
        TopP = command.TopP,
        TopK = command.TopK,
        Seed = command.Seed,
        StopSequences = command.Stop,
        OutputFormat = Format(command.Output),
        OutputSpec = command.Output?.Text,
    };

    private static ChatGenerateRequest Request(GenerationCommand command, string model, IReadOnlyList<Runtime.Chat.ChatTurn> messages)
    {
        var wire = new ChatRequestMessage[messages.Count];
        for (var i = 0; i < wire.Length; i++)
        {
            wire[i] = new ChatRequestMessage(messages[i].Role, messages[i].Content ?? "");
        }

        return new ChatGenerateRequest
        {
            Messages = wire,
            Model = model,
            Forwarded = true,
            MaxTokens = command.MaxTokens,
            Temperature = command.Temperature,
            TopP = command.TopP,
            TopK = command.TopK,
            Seed = command.Seed,
            StopSequences = command.Stop,
            OutputFormat = Format(command.Output),
            OutputSpec = command.Output?.Text,
        };
    }

    private static OutputFormat Format(OutputConstraint? output) => output?.Kind switch
    {
        null => OutputFormat.Text,
        Runtime.Generation.StructuredOutputKind.JsonObject => OutputFormat.JsonObject,
        Runtime.Generation.StructuredOutputKind.JsonSchema => OutputFormat.JsonSchema,
        _ => OutputFormat.Grammar,
    };

    private static ForwardedDone Done(GenerationResult result)
    {
        var stats = result.Stats;
        var finish = stats.FinishReason switch
        {
            Protocol.FinishReason.MaxTokens => RuntimeFinish.MaxTokens,
            Protocol.FinishReason.StopSequence => RuntimeFinish.StopString,
            Protocol.FinishReason.Cancelled => RuntimeFinish.Cancelled,
            Protocol.FinishReason.ContextFull => RuntimeFinish.ContextFull,
            _ => RuntimeFinish.EndOfGeneration,
        };
        return new ForwardedDone(result.Model, result.Node, finish, stats.PromptTokens, stats.CachedPromptTokens, stats.GeneratedTokens,
            stats.TokensPerSecond, stats.QueueWait, stats.SwapNanos > 0 ? stats.SwapTime : null);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) != 0)
        {
            return;
        }

        view.NodesLeft -= NodeLeft;
        foreach (var pending in connections.Values)
        {
            if (pending.IsValueCreated && pending.Value.IsCompletedSuccessfully)
            {
                await pending.Value.Result.DisposeAsync().ConfigureAwait(false);
            }
        }

        connections.Clear();
    }

    /// <summary>Removes one open forward from its node's set when the forward ends.</summary>
    private readonly struct Unregister(ConcurrentDictionary<long, CancellationTokenSource> forwards, long id) : IDisposable
    {
        public void Dispose() => forwards.TryRemove(id, out _);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Cluster: node {Node} connected to {Endpoint} to forward requests.")]
    private static partial void LogConnected(ILogger logger, string node, string endpoint);
}
