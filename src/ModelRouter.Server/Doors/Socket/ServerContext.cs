using Microsoft.Extensions.Logging;
using ModelRouter.Protocol;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>What every socket connection shares: the request pipeline and the wire limits derived from the options.</summary>
public sealed class ServerContext
{
    public ServerContext(RequestPipeline pipeline)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        Pipeline = pipeline;
        Options = pipeline.Options;
        Logger = pipeline.Logger;
        Limits = new ProtocolLimits
        {
            MaxPayloadBytes = Options.Limits.MaxFrameBytes,
            MaxPromptBytes = Options.Limits.MaxPromptBytes,
            MaxTokens = Options.Limits.MaxTokens,
            MaxRequestsInFlight = Options.Limits.MaxRequestsInFlightPerConnection,
        };
    }

    public RequestPipeline Pipeline { get; }

    public ServerOptions Options { get; }

    public ILogger Logger { get; }

    public ProtocolLimits Limits { get; }

}
