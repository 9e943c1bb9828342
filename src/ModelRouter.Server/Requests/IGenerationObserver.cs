namespace ModelRouter.Server.Requests;

/// <summary>
/// Where one generation's results go: the door that asked. Called from model workers and chain tasks, never
/// concurrently for one request; <see cref="OnRouted"/> (routed requests only) comes before any text, and exactly
/// one of <see cref="OnCompleted"/> or <see cref="OnFailed"/> ends the request. Implementations must not throw and
/// must not block (a worker thread serves other clients' sequences between two calls).
/// </summary>
public interface IGenerationObserver
{
    void OnRouted(RouteOutcome route);

    /// <summary>A piece of UTF-8 text (complete characters unless the model emitted invalid bytes); copy it, the span is reused.</summary>
    void OnText(ReadOnlySpan<byte> utf8);

    /// <summary>
    /// A piece of a tool call (requests that offered tools): the call's id and name on its first piece, then pieces of
    /// its JSON arguments. Doors that cannot carry tools never receive one, since they cannot offer tools.
    /// </summary>
    void OnToolCall(Runtime.Chat.ChatOutputDelta piece)
    {
    }

    void OnCompleted(GenerationDone done);

    void OnFailed(Scheduling.RequestError failure, string message);
}
