using Microsoft.Extensions.Logging;
using ModelRouter.Protocol;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>
/// What every socket connection shares: the request pipeline, the wire limits derived from the options, the clock the
/// connection timeouts are measured with, and the budget of bytes held for partly received frames.
/// </summary>
public sealed class ServerContext
{
    public ServerContext(RequestPipeline pipeline, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        Pipeline = pipeline;
        Options = pipeline.Options;
        Logger = pipeline.Logger;
        Time = time ?? TimeProvider.System;
        Limits = new ProtocolLimits
        {
            MaxPayloadBytes = Options.Limits.MaxFrameBytes,
            MaxPromptBytes = Options.Limits.MaxPromptBytes,
            MaxTokens = Options.Limits.MaxTokens,
            MaxRequestsInFlight = Options.Limits.MaxRequestsInFlightPerConnection,
        };
        FrameBudget = new FrameBudget(Math.Max(1, Options.Limits.MaxBufferedFrameBytes));
    }

    public RequestPipeline Pipeline { get; }

    public ServerOptions Options { get; }

    public ILogger Logger { get; }

    public ProtocolLimits Limits { get; }

    /// <summary>Handshake, idle and frame-rate timeouts are measured with this clock (a fake one in tests).</summary>
    public TimeProvider Time { get; }

    /// <summary>Bytes all connections together may hold for partly received frames.</summary>
    public FrameBudget FrameBudget { get; }

    /// <summary>
    /// How long a closing connection waits for its requests' terminal frames, and then for its output to reach the
    /// client, before it drops the transport (a client that stopped reading cannot hold a close open).
    /// </summary>
    public TimeSpan CloseGrace { get; init; } = TimeSpan.FromSeconds(5);
}
