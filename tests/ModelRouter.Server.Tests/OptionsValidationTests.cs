using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using ModelRouter.Server.Hosting;
using ModelRouter.Server.Options;
using ModelRouter.Server.Routing;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The configuration checks at start: every rule refuses a bad value with a line that names the key (as written in
/// configuration) and the value; all problems come at once; values of the wrong type and malformed JSON are reported
/// the same way; and a host started with a bad configuration fails its start with them. No model is loaded: the model
/// "files" here are placeholders of a known size.
/// </summary>
public sealed class OptionsValidationTests : IDisposable
{
    private const int ModelBytes = 1000;

    private readonly string directory = Directory.CreateTempSubdirectory("mr-options-").FullName;

    public OptionsValidationTests()
    {
        ModelPath = Path.Combine(directory, "m0.gguf");
        File.WriteAllBytes(ModelPath, new byte[ModelBytes]);
    }

    private string ModelPath { get; }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>A configuration that passes, as key/value pairs under "ModelRouter:".</summary>
    private Dictionary<string, string?> Baseline() => new(StringComparer.OrdinalIgnoreCase)
    {
        ["ModelRouter:Tcp"] = "127.0.0.1:0",
        ["ModelRouter:Models:0:Name"] = "m0",
        ["ModelRouter:Models:0:Path"] = ModelPath,
        ["ModelRouter:Models:0:Capabilities:0"] = "chat",
    };

    /// <summary>Binds <paramref name="settings"/> over the baseline the way the host does, then validates.</summary>
    private ValidateOptionsResult Validate(params (string Key, string? Value)[] settings)
    {
        var values = Baseline();
        foreach (var (key, value) in settings)
        {
            values["ModelRouter:" + key] = value;
        }

        var section = new ConfigurationBuilder().AddInMemoryCollection(values).Build().GetSection(ServerOptions.SectionName);
        var binding = new ServerOptionsBinding();
        var options = new ServerOptions();
        binding.Bind(section, options);
        return new ServerOptionsValidator(binding).Validate(null, options);
    }

    [Fact]
    public void The_baseline_is_valid_so_each_rule_below_fails_on_its_own_value()
    {
        var result = Validate();

        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Failures ?? []));
    }

    [Theory]
    [InlineData("Scheduler:Threads", "-4")]
    [InlineData("Scheduler:Threads", "513")]
    [InlineData("Scheduler:QueueCapacityPerModel", "0")]
    [InlineData("Scheduler:MaxBatchPerModel", "0")]
    [InlineData("Scheduler:MaxBatchPerModel", "257")]
    [InlineData("Scheduler:ContextPerSequence", "63")]
    [InlineData("Scheduler:EmbeddingTokensPerInput", "0")]
    [InlineData("Scheduler:EmbeddingInputsPerDecode", "0")]
    [InlineData("Scheduler:MinResidencyMs", "-1")]
    [InlineData("Scheduler:MaxWaitMs", "0")]
    [InlineData("Scheduler:MaxQueueWaitSeconds", "0")]
    [InlineData("Limits:MaxFrameBytes", "104857600")] // 100 MB: above the protocol's 16 MiB, which clients refuse
    [InlineData("Limits:MaxFrameBytes", "1023")]
    [InlineData("Limits:MaxPromptBytes", "0")]
    [InlineData("Limits:MaxPromptBytes", "2000000")] // more than one frame holds
    [InlineData("Limits:MaxTokens", "0")]
    [InlineData("Limits:MaxRequestsInFlight", "0")]
    [InlineData("Limits:MaxRequestsInFlightPerConnection", "0")]
    [InlineData("Limits:MaxEmbeddingInputs", "0")]
    [InlineData("Limits:MaxHttpBodyBytes", "1023")]
    [InlineData("Limits:OutputPauseThresholdBytes", "0")]
    [InlineData("Limits:HandshakeTimeoutMs", "0")]
    [InlineData("Limits:IdleTimeoutSeconds", "0")]
    [InlineData("Limits:MinFrameBytesPerSecond", "0")]
    [InlineData("Limits:FrameGracePeriodMs", "1000")]
    [InlineData("Limits:MaxConnections", "0")]
    [InlineData("Limits:MaxConnectionsPerAddress", "0")]
    [InlineData("Limits:MaxBufferedFrameBytes", "1000000")] // below MaxFrameBytes (1 MiB): a full frame would never fit
    [InlineData("ShutdownTimeoutSeconds", "-1")]
    [InlineData("DeviceBudgetBytes", "0")]
    [InlineData("DeviceBudgetBytes", "999")] // the only model's file is 1000 bytes
    [InlineData("Models:0:Name", "")]
    [InlineData("Models:0:Path", "/nonexistent/m0.gguf")]
    [InlineData("Models:0:CostPer1kTokens", "-0.5")]
    [InlineData("Models:0:CostPer1kTokens", "NaN")]
    [InlineData("Models:0:Priority", "-1")]
    [InlineData("Models:0:KeepAliveSeconds", "-1")]
    [InlineData("Models:0:SizeClass", "42")]
    [InlineData("Models:0:LatencyClass", "9")]
    [InlineData("Tcp", "127.0.0.1")] // no port: would listen on a random one
    [InlineData("Tcp", "127.0.0.1:70000")]
    [InlineData("Tcp", "localhost:7878")] // the listener takes an IP address
    [InlineData("Http", "ftp://127.0.0.1:8080")]
    [InlineData("Http", "http://127.0.0.1:70000")]
    [InlineData("Http", "http://0.0.0.0:8080")] // beyond loopback without a token
    [InlineData("UnixSocket", "/nonexistent-directory/modelrouter.sock")]
    [InlineData("DefaultModel", "nope")]
    [InlineData("EmbeddingModel", "nope")]
    [InlineData("Policy", "42")]
    [InlineData("HybridWeights:Cost", "-1")]
    [InlineData("HybridWeights:Latency", "Infinity")]
    [InlineData("Availability:ServiceTimeMs", "-1")]
    [InlineData("Availability:PromptMs", "-1")]
    [InlineData("Availability:HostBandwidthMBps", "0")]
    [InlineData("Availability:DiskBandwidthMBps", "0")]
    [InlineData("Routes:0:Task", "")]
    [InlineData("Routes:0:Models:0", "nope")]
    [InlineData("Routes:0:Remotes:0", "nowhere")]
    public void A_bad_value_is_refused_naming_its_key_and_value(string key, string value)
    {
        var result = Validate((key, value));

        Assert.True(result.Failed, $"{key} = {value} passed");
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.StartsWith($"ModelRouter:{key} = ", StringComparison.OrdinalIgnoreCase) && f.Contains(value, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("Tcp", "[::1]:7878")]
    [InlineData("Tcp", "0.0.0.0:65535")]
    [InlineData("Http", "http://127.0.0.1:0")]
    [InlineData("Http", "http://localhost:8080")]
    public void Listener_addresses_with_an_explicit_port_are_accepted(string key, string value)
    {
        var result = Validate((key, value));

        Assert.True(result.Succeeded, string.Join(Environment.NewLine, result.Failures ?? []));
    }

    [Fact]
    public void Zero_threads_means_every_core_and_is_accepted()
    {
        Assert.True(Validate(("Scheduler:Threads", "0")).Succeeded);
    }

    [Fact]
    public void The_largest_frame_the_protocol_allows_is_accepted()
    {
        Assert.True(Validate(("Limits:MaxFrameBytes", "16777216"), ("Limits:MaxBufferedFrameBytes", "16777216")).Succeeded);
    }

    [Fact]
    public void A_budget_must_hold_every_pinned_model_and_the_smallest_other_one_measured_by_file_size()
    {
        var big = Path.Combine(directory, "big.gguf");
        File.WriteAllBytes(big, new byte[3000]);
        (string, string?)[] catalog = [("Models:1:Name", "big"), ("Models:1:Path", big), ("Models:1:Pinned", "true")];

        var tooSmall = Validate([.. catalog, ("DeviceBudgetBytes", "3999")]);
        var enough = Validate([.. catalog, ("DeviceBudgetBytes", "4000")]);

        Assert.Equal(
            "ModelRouter:DeviceBudgetBytes = 3999: too small: the pinned models (big 3000) and the smallest other model (m0 1000) need 4000 bytes together, measured by their file sizes",
            Assert.Single(tooSmall.Failures!));
        Assert.True(enough.Succeeded, string.Join(Environment.NewLine, enough.Failures ?? []));
    }

    [Fact]
    public void Repeated_model_names_and_bad_remotes_name_their_keys()
    {
        var result = Validate(
            ("Models:1:Name", "m0"),
            ("Models:1:Path", ModelPath),
            ("Remotes:0:Name", "r"),
            ("Remotes:0:Endpoint", "https://example.org"),
            ("Remotes:0:Model", "x"),
            ("Remotes:0:Retries", "11"),
            ("Remotes:0:CooldownSeconds", "0"));

        Assert.Equal(
            [
                "ModelRouter:Models:1:Name = 'm0': repeated (also ModelRouter:Models:0:Name)",
                "ModelRouter:Remotes:0:Retries = 11: must be within 0..10",
                "ModelRouter:Remotes:0:CooldownSeconds = 0: must be within 1..86400",
            ],
            result.Failures!);
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var result = Validate(
            ("Scheduler:Threads", "-4"),
            ("Limits:MaxFrameBytes", "104857600"),
            ("Models:0:KeepAliveSeconds", "-1"),
            ("Models:0:CostPer1kTokens", "-1"),
            ("Models:0:Priority", "-3"),
            ("DeviceBudgetBytes", "10"));

        var failures = result.Failures!.ToList();
        Assert.Contains("ModelRouter:Scheduler:Threads = -4: must be within 0..512 (0 uses every core; llama.cpp runs at most 512)", failures);
        Assert.Contains("ModelRouter:Limits:MaxFrameBytes = 104857600: must be within 1024..16777216 (the protocol's ceiling is 16 MiB; clients refuse a larger limit)", failures);
        Assert.Contains("ModelRouter:Models:0:KeepAliveSeconds = -1: must be ≥ 0 (0 keeps the model until space is needed)", failures);
        Assert.Contains("ModelRouter:Models:0:CostPer1kTokens = -1: must be a finite number ≥ 0", failures);
        Assert.Contains("ModelRouter:Models:0:Priority = -3: must be ≥ 0 (higher stays resident longer)", failures);
        Assert.Contains(failures, f => f.StartsWith("ModelRouter:DeviceBudgetBytes = 10: too small", StringComparison.Ordinal));
        Assert.Equal(6, failures.Count);
    }

    [Fact]
    public void Values_of_the_wrong_type_are_reported_with_the_expected_type_beside_the_other_problems()
    {
        var result = Validate(
            ("Scheduler:Threads", "abc"),
            ("Limits:MaxFrameBytes", "99999999999"),
            ("Models:0:Pinned", "maybe"),
            ("Models:0:CostPer1kTokens", "cheap"),
            ("Policy", "fastest"),
            ("Models:0:Priority", "-1"));

        var failures = result.Failures!.ToList();
        Assert.Contains("ModelRouter:Scheduler:Threads = 'abc': expected a whole number (int, -2147483648..2147483647)", failures);
        Assert.Contains("ModelRouter:Limits:MaxFrameBytes = '99999999999': expected a whole number (int, -2147483648..2147483647)", failures);
        Assert.Contains("ModelRouter:Models:0:Pinned = 'maybe': expected true or false (bool)", failures);
        Assert.Contains("ModelRouter:Models:0:CostPer1kTokens = 'cheap': expected a number (Double, '.' as the decimal point)", failures);
        Assert.Contains("ModelRouter:Policy = 'fastest': expected one of capability, cost, latency, hybrid (PolicyKind)", failures);
        Assert.Contains("ModelRouter:Models:0:Priority = -1: must be ≥ 0 (higher stays resident longer)", failures);
        Assert.Equal(6, failures.Count);
    }

    [Fact(Timeout = TestTimeouts.StartOnlyMs)]
    public async Task A_host_started_with_a_bad_config_fails_its_start_with_every_problem()
    {
        using var host = BuildHost(configFile: null, "--ModelRouter:Scheduler:Threads=-4", "--ModelRouter:Models:0:Priority=x");

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Contains("ModelRouter:Scheduler:Threads = -4: must be within 0..512 (0 uses every core; llama.cpp runs at most 512)", error.Failures);
        Assert.Contains("ModelRouter:Models:0:Priority = 'x': expected a whole number (int, -2147483648..2147483647)", error.Failures);
        Assert.Equal(2, error.Failures.Count());
    }

    [Fact(Timeout = TestTimeouts.StartOnlyMs)]
    public async Task A_host_started_from_a_bad_json_file_names_the_keys_of_the_file()
    {
        var config = Path.Combine(directory, "bad.json");
        await File.WriteAllTextAsync(
            config,
            $$"""
            { "ModelRouter": { "Tcp": "127.0.0.1:0", "Scheduler": { "Threads": "abc" },
              "Models": [ { "Name": "m0", "Path": {{System.Text.Json.JsonSerializer.Serialize(ModelPath)}}, "KeepAliveSeconds": -5 } ] } }
            """,
            TestContext.Current.CancellationToken);
        using var host = BuildHost(config);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(TestContext.Current.CancellationToken));

        Assert.Equal(
            [
                "ModelRouter:Scheduler:Threads = 'abc': expected a whole number (int, -2147483648..2147483647)",
                "ModelRouter:Models:0:KeepAliveSeconds = -5: must be ≥ 0 (0 keeps the model until space is needed)",
            ],
            error.Failures);
    }

    [Fact]
    public void Malformed_json_is_one_error_naming_the_file_line_and_position()
    {
        var config = Path.Combine(directory, "broken.json");
        File.WriteAllText(config, "{\n  \"ModelRouter\": {\n    \"Tcp\": \"127.0.0.1:0\",,\n  }\n}\n");

        var error = Assert.Throws<InvalidDataException>(() => ModelRouterHost.CreateBuilder([], config, new NoClassifier()));

        // Line 3 is `    "Tcp": "127.0.0.1:0",,`: the second comma is its 26th byte.
        Assert.StartsWith($"config file '{config}': invalid JSON at line 3, position 26: ',' is an invalid start of a property name.", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("LineNumber", error.Message, StringComparison.Ordinal); // said once, counted from 1
        Assert.DoesNotContain('\n', error.Message);
    }

    [Fact]
    public void A_key_given_twice_in_the_json_is_one_error_naming_the_file_and_key()
    {
        var config = Path.Combine(directory, "twice.json");
        File.WriteAllText(config, """{ "ModelRouter": { "Tcp": "127.0.0.1:0", "tcp": "127.0.0.1:1" } }""");

        var error = Assert.Throws<InvalidDataException>(() => ModelRouterHost.CreateBuilder([], config, new NoClassifier()));

        Assert.StartsWith($"config file '{config}': ", error.Message, StringComparison.Ordinal);
        Assert.Contains("ModelRouter:tcp", error.Message, StringComparison.OrdinalIgnoreCase);
    }

    private IHost BuildHost(string? configFile, params string[] overrides)
    {
        string[] args = configFile is null
            ? ["--ModelRouter:Tcp=127.0.0.1:0", "--ModelRouter:Models:0:Name=m0", $"--ModelRouter:Models:0:Path={ModelPath}", .. overrides]
            : overrides;
        var builder = ModelRouterHost.CreateBuilder(args, configFile, new NoClassifier());
        builder.Logging.ClearProviders();
        return builder.Build();
    }
}
