namespace ModelRouter.Cli.Benchmarks;

/// <summary>The machine's 1, 5 and 15 minute load averages (Linux /proc/loadavg), recorded next to the figures.</summary>
public static class LoadAverage
{
    /// <summary>"1.23 0.98 0.75", or "n/a" where the system does not say.</summary>
    public static string Read()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ', StringSplitOptions.RemoveEmptyEntries);
            return fields.Length >= 3 ? string.Join(' ', fields[..3]) : "n/a";
        }
        catch (IOException)
        {
            return "n/a";
        }
        catch (UnauthorizedAccessException)
        {
            return "n/a";
        }
    }
}
