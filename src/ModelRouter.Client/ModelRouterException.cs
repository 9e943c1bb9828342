using ModelRouter.Protocol;

namespace ModelRouter.Client;

/// <summary>A request failed with an error code: sent by the server in an error frame, or detected locally.</summary>
public class ModelRouterException : Exception
{
    public ModelRouterException()
        : this(ErrorCode.Internal, "request failed")
    {
    }

    public ModelRouterException(string message)
        : this(ErrorCode.Internal, message)
    {
    }

    public ModelRouterException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = ErrorCode.Internal;
    }

    public ModelRouterException(ErrorCode code, string message, uint requestId = 0, Exception? innerException = null)
        : base(message, innerException)
    {
        Code = code;
        RequestId = requestId;
    }

    /// <summary>The stable error code (docs/protocol.md, "Error codes").</summary>
    public ErrorCode Code { get; }

    /// <summary>The request it concerns; 0 for the connection.</summary>
    public uint RequestId { get; }
}

/// <summary>
/// The connection failed or closed: every pending request fails with this. <see cref="ModelRouterException.Code"/> is
/// <see cref="ErrorCode.ConnectionClosed"/>, or the code of the server's connection-level error (e.g.
/// <see cref="ErrorCode.AuthenticationFailed"/>) when it sent one before closing.
/// </summary>
public sealed class ModelRouterConnectionException : ModelRouterException
{
    public ModelRouterConnectionException()
        : base(ErrorCode.ConnectionClosed, "connection closed")
    {
    }

    public ModelRouterConnectionException(string message)
        : base(ErrorCode.ConnectionClosed, message)
    {
    }

    public ModelRouterConnectionException(string message, Exception innerException)
        : base(ErrorCode.ConnectionClosed, message, 0, innerException)
    {
    }

    public ModelRouterConnectionException(ErrorCode code, string message, Exception? innerException = null)
        : base(code, message, 0, innerException)
    {
    }
}
