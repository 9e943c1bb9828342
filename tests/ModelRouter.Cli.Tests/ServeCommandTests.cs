using System.Diagnostics;
using System.Text.Json;

namespace ModelRouter.Cli.Tests;

/// <summary>
/// `modelrouter serve` run as a process (the built CLI beside these tests) with configurations that cannot start: the
/// output is one line per problem naming the key, with no stack trace unless --verbose, and the exit code is 1. No
/// model is loaded and nothing listens: every case fails before the server starts.
/// </summary>
public sealed class ServeCommandTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("mr-serve-").FullName;

    public ServeCommandTests()
    {
        ModelPath = Path.Combine(directory, "m0.gguf");
        File.WriteAllBytes(ModelPath, new byte[1000]);
    }

    private string ModelPath { get; }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact(Timeout = 120_000)]
    public async Task A_bad_config_prints_one_short_line_per_problem_naming_the_key_and_exits_1()
    {
        var config = WriteConfig("\"Threads\": -4");

        var run = await ServeAsync("--config", config, "--ModelRouter:Models:0:Priority=-1");

        Assert.Equal(1, run.ExitCode);
        Assert.DoesNotContain("   at ", run.Output, StringComparison.Ordinal);
        Assert.Equal(
            [
                "error: ModelRouter:Models:0:Priority = -1: must be ≥ 0 (higher stays resident longer)",
                "error: ModelRouter:Scheduler:Threads = -4: must be within 0..512 (0 uses every core; llama.cpp runs at most 512)",
            ],
            run.Lines);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_value_of_the_wrong_type_is_reported_like_any_other_problem()
    {
        var config = WriteConfig("\"Threads\": \"abc\"");

        var run = await ServeAsync("--config", config);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal(["error: ModelRouter:Scheduler:Threads = 'abc': expected a whole number (int, -2147483648..2147483647)"], run.Lines);
    }

    [Fact(Timeout = 120_000)]
    public async Task Malformed_json_is_one_line_naming_the_file_line_and_position()
    {
        var config = Path.Combine(directory, "broken.json");
        await File.WriteAllTextAsync(config, "{ \"ModelRouter\": {\n  \"Tcp\": \"127.0.0.1:0\"\n  \"Http\": \"\" } }\n", TestContext.Current.CancellationToken);

        var run = await ServeAsync("--config", config);

        Assert.Equal(1, run.ExitCode);
        var line = Assert.Single(run.Lines);
        Assert.StartsWith($"error: config file '{config}': invalid JSON at line 3, position 3: ", line, StringComparison.Ordinal);
    }

    [Fact(Timeout = 120_000)]
    public async Task A_missing_config_file_is_one_line()
    {
        var missing = Path.Combine(directory, "missing.json");

        var run = await ServeAsync("--config", missing);

        Assert.Equal(1, run.ExitCode);
        Assert.Equal([$"error: The config file '{missing}' does not exist."], run.Lines);
    }

    [Fact(Timeout = 120_000)]
    public async Task Verbose_shows_the_whole_exception_with_its_stack_trace()
    {
        var config = WriteConfig("\"Threads\": -4");

        var run = await ServeAsync("--config", config, "--verbose");

        Assert.Equal(1, run.ExitCode);
        Assert.Contains("Microsoft.Extensions.Options.OptionsValidationException", run.Output, StringComparison.Ordinal);
        Assert.Contains("ModelRouter:Scheduler:Threads = -4", run.Output, StringComparison.Ordinal);
        Assert.Contains("   at ", run.Output, StringComparison.Ordinal);
    }

    /// <summary>A config with one listener, one model (a placeholder file) and the given Scheduler members.</summary>
    private string WriteConfig(string scheduler)
    {
        var path = Path.Combine(directory, "config.json");
        File.WriteAllText(path, $$"""
            { "ModelRouter": { "Tcp": "127.0.0.1:0", "Scheduler": { {{scheduler}} },
              "Models": [ { "Name": "m0", "Path": {{JsonSerializer.Serialize(ModelPath)}} } ] } }
            """);
        return path;
    }

    private static async Task<Run> ServeAsync(params string[] args)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "modelrouter.dll");
        Assert.True(File.Exists(cli), $"{cli} is missing: the CLI project's output should be copied beside the tests");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(cli);
        start.ArgumentList.Add("serve");
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        // Keep the environment from adding settings (MODELROUTER__ variables would be bound over the config).
        foreach (var key in start.Environment.Keys.Where(k => k.StartsWith("MODELROUTER__", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }

        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        try
        {
            await process.WaitForExitAsync(TestContext.Current.CancellationToken).WaitAsync(TimeSpan.FromSeconds(90), TestContext.Current.CancellationToken);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        var text = await output + await error;
        return new Run(process.ExitCode, text);
    }

    private sealed record Run(int ExitCode, string Output)
    {
        public IReadOnlyList<string> Lines => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}
