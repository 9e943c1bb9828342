namespace ModelRouter.Server.Hosting;

/// <summary>
/// What a graceful stop achieved: the doors and the scheduler count the requests they had to cut off at the
/// shutdown deadline, and the CLI turns that into its exit code (0: nothing lost; <see cref="CutOffExitCode"/>: some
/// requests ended with a shutting-down error).
/// </summary>
public sealed class ShutdownReport
{
    /// <summary>Exit code of `modelrouter serve` when requests were cut off at the shutdown deadline.</summary>
    public const int CutOffExitCode = 3;

    private int cutOff;

    /// <summary>Requests that had not finished by the deadline and were ended with a shutting-down error.</summary>
    public int CutOff => Volatile.Read(ref cutOff);

    public int ExitCode => CutOff > 0 ? CutOffExitCode : 0;

    public void RecordCutOff(int requests = 1) => Interlocked.Add(ref cutOff, requests);
}
