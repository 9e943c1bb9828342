using ModelRouter.Protocol;

namespace ModelRouter.Client;

/// <summary>Options of a <see cref="ModelRouterClient"/> connection.</summary>
public sealed class ModelRouterClientOptions
{
    /// <summary>Sent in hello, shows up in the server's logs.</summary>
    public string ClientName { get; set; } = "ModelRouter.Client";

    /// <summary>Bound on connecting plus the handshake.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Token chunks buffered per generation before the connection's read loop waits for the consumer. Overload policy
    /// "wait": a consumer that stops reading without cancelling stalls the whole connection (and, through TCP, the
    /// server's writes to it) rather than letting memory grow. Cancel or dispose the enumeration to release it.
    /// </summary>
    public int MaxBufferedChunksPerRequest { get; set; } = 1024;

    /// <summary>Size of the socket read buffer (the PipeReader's segment size).</summary>
    public int ReadBufferSize { get; set; } = 64 * 1024;

    /// <summary>Minimum size of the PipeWriter's buffers.</summary>
    public int WriteBufferSize { get; set; } = 16 * 1024;

    /// <summary>
    /// Limits applied to frames from the server (its max payload, names). The server's announced limits are applied
    /// to what this client sends.
    /// </summary>
    public ProtocolLimits ReceiveLimits { get; set; } = ProtocolLimits.Default with { MaxPayloadBytes = 4 * 1024 * 1024 };
}
