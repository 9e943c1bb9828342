using Microsoft.Extensions.Logging;

namespace ModelRouter.Server.Diagnostics;

/// <summary>The server's log messages, source-generated, with fixed event ids (1000s: llama.cpp, 2000s: server).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(EventId = 2001, Level = LogLevel.Information, Message = "Listening on {Endpoint}")]
    public static partial void Listening(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 2002, Level = LogLevel.Information, Message = "Model {Model} registered: {WeightBytes} bytes of weights from {Path}")]
    public static partial void ModelRegistered(ILogger logger, string model, long weightBytes, string path);

    [LoggerMessage(EventId = 2003, Level = LogLevel.Warning, Message = "Model {Model} is unavailable: {Problem}")]
    public static partial void ModelUnavailable(ILogger logger, string model, string problem);

    [LoggerMessage(EventId = 2004, Level = LogLevel.Error, Message = "Decoding with {Model} failed: {Problem}")]
    public static partial void DecodeFailed(ILogger logger, string model, string problem);

    [LoggerMessage(EventId = 2005, Level = LogLevel.Warning, Message = "Model {Model} is overloaded ({Capacity} requests waiting); new requests are refused")]
    public static partial void Overloaded(ILogger logger, string model, int capacity);

    [LoggerMessage(EventId = 2006, Level = LogLevel.Information, Message = "Connection {Connection} opened from {Remote}")]
    public static partial void ConnectionOpened(ILogger logger, long connection, string remote);

    [LoggerMessage(EventId = 2007, Level = LogLevel.Information, Message = "Connection {Connection} closed: {Reason}")]
    public static partial void ConnectionClosed(ILogger logger, long connection, string reason);

    [LoggerMessage(EventId = 2008, Level = LogLevel.Warning, Message = "Connection {Connection} sent a bad frame: {Problem}")]
    public static partial void BadFrame(ILogger logger, long connection, string problem);

    [LoggerMessage(EventId = 2010, Level = LogLevel.Warning, Message = "Output of request {RequestId} on {Model} could not be delivered: {Problem}")]
    public static partial void SinkFailed(ILogger logger, string model, ulong requestId, string problem);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Warning, Message = "Request {RequestId}: every member of its route's fallback chain failed: {Problem}")]
    public static partial void ChainExhausted(ILogger logger, ulong requestId, string problem);

    [LoggerMessage(EventId = 2017, Level = LogLevel.Warning, Message = "Request {RequestId}: forwarding {Model} to node {Node} failed before its first token ({Problem}); serving it here")]
    public static partial void ForwardFellBack(ILogger logger, ulong requestId, string model, string node, string problem);

    [LoggerMessage(EventId = 2009, Level = LogLevel.Information, Message = "Draining: waiting for requests in flight to finish")]
    public static partial void Draining(ILogger logger);

    [LoggerMessage(EventId = 2012, Level = LogLevel.Information, Message = "Draining: {InFlight} requests in flight may take up to {Seconds} s to finish")]
    public static partial void DrainStarted(ILogger logger, int inFlight, int seconds);

    [LoggerMessage(EventId = 2013, Level = LogLevel.Warning, Message = "Shutdown deadline reached: {Requests} unfinished requests end with a shutting-down error")]
    public static partial void DrainCutOff(ILogger logger, int requests);

    [LoggerMessage(EventId = 2014, Level = LogLevel.Error, Message = "Model {Model}: worker fault ({Consecutive} in a row); the requests it held failed and it goes on")]
    public static partial void WorkerFault(ILogger logger, string model, int consecutive, Exception exception);

    [LoggerMessage(EventId = 2016, Level = LogLevel.Information, Message = "Request {RequestId}: the model's output is not what its tool-call format expects: {Reason}")]
    public static partial void ToolOutputUnreadable(ILogger logger, ulong requestId, string reason);
}
