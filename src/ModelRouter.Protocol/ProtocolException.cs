namespace ModelRouter.Protocol;

/// <summary>
/// Malformed or disallowed input on the wire. <see cref="IsFatal"/> says whether framing is lost (the receiver must
/// answer with an error frame on request id 0 and close) or only this frame is bad (answer an error frame on
/// <see cref="RequestId"/> and keep the connection).
/// </summary>
public sealed class ProtocolException : Exception
{
    public ProtocolException()
        : this(ErrorCode.BadFrame, "protocol error")
    {
    }

    public ProtocolException(string message)
        : this(ErrorCode.BadFrame, message)
    {
    }

    public ProtocolException(string message, Exception innerException)
        : base(message, innerException)
    {
        Code = ErrorCode.BadFrame;
        IsFatal = true;
    }

    public ProtocolException(ErrorCode code, string message, uint requestId = 0, bool isFatal = false)
        : base(message)
    {
        Code = code;
        RequestId = requestId;
        IsFatal = isFatal;
    }

    /// <summary>The error code to send back.</summary>
    public ErrorCode Code { get; }

    /// <summary>The request id of the offending frame when known (0 for header-level errors).</summary>
    public uint RequestId { get; }

    /// <summary>True when the stream can no longer be framed: reply on request id 0 and close the connection.</summary>
    public bool IsFatal { get; }

    /// <summary>The same error attributed to a request id (payload readers do not know the header).</summary>
    public ProtocolException WithRequestId(uint requestId) =>
        requestId == RequestId ? this : new ProtocolException(Code, Message, requestId, IsFatal);
}
