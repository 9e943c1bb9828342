namespace ModelRouter.Server.Tests;

/// <summary>
/// Bounds for [Fact(Timeout = ...)]: a test that hangs fails after this long instead of stalling the run. They are
/// generous on purpose (a loaded two-core CI machine runs the model on its CPU); they bound a hang, they time nothing.
/// </summary>
internal static class TestTimeouts
{
    /// <summary>A test that starts a live server (real model, sockets) and runs requests through it.</summary>
    public const int LiveServerMs = 300_000;

    /// <summary>A test that starts a host or a process but serves nothing.</summary>
    public const int StartOnlyMs = 60_000;
}
