using Microsoft.Extensions.Logging;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>The socket door's log messages, source-generated, with fixed event ids (2100s).</summary>
internal static partial class SocketLog
{
    [LoggerMessage(EventId = 2101, Level = LogLevel.Warning, Message = "Refusing socket connections: {Reason} (logged once until a connection closes)")]
    public static partial void RefusingConnections(ILogger logger, string reason);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Information, Message = "Connection {Connection} timed out: {Reason}")]
    public static partial void TimedOut(ILogger logger, long connection, string reason);

    [LoggerMessage(EventId = 2103, Level = LogLevel.Information, Message = "Socket door draining: {Connections} connections told to go away")]
    public static partial void Draining(ILogger logger, int connections);

    [LoggerMessage(EventId = 2104, Level = LogLevel.Information, Message = "Removed the stale socket file {Path} (no server answered on it)")]
    public static partial void StaleSocketRemoved(ILogger logger, string path);
}
