using ModelRouter.Cli.Simulation;
using ModelRouter.Cli.Simulation.Validation;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Cli.Tests.Simulation;

/// <summary>validate-simulator's calibration replay: the profile under load, and the compute factor recovered from a replay.</summary>
[Collection(SimulationRunsAlone.Name)]
public sealed class LoadCalibrationTests
{
    private static ModelCost Cost(string name, long bytes) => new()
    {
        Model = name,
        WeightBytes = bytes,
        RestoreMs = 40,
        ContextMs = 5,
        EvictMs = 1,
        ReloadMs = 300,
        PrefillTokensPerSecond = 4000,
        PrefillFixedMs = 3,
        PrefillMsPerTokenSquared = 0.0002,
        DecodeTokensPerSecond = 400,
        BatchSlowdownPerSequence = 0.7,
        Sources = new Dictionary<string, string>(),
    };

    private static SwapProfile Profile() => new("test", [Cost("a", 900), Cost("b", 1000)]) { DispatchMs = 1.5 };

    private static readonly Dictionary<string, double> LiveSwaps = new(StringComparer.Ordinal) { ["a"] = 12, ["b"] = 90 };

    [Fact]
    public void Under_load_swaps_are_the_live_ones_plus_the_context_and_every_step_takes_the_compute_factor_longer()
    {
        var profile = Profile();
        var underLoad = LoadCalibration.UnderLoad(profile, new Dictionary<string, double>(StringComparer.Ordinal) { ["b"] = 90 }, compute: 1.5);

        Assert.Equal(40, underLoad.Models[0].RestoreMs); // no live swap of a measured: as micro-benchmarked
        Assert.Equal(90 + 5, underLoad.Models[1].RestoreMs);
        foreach (var (before, after) in profile.Models.Zip(underLoad.Models))
        {
            Assert.Equal(before.PrefillMs(200) * 1.5, after.PrefillMs(200), 9);
            Assert.Equal(before.DecodeStepMs(3) * 1.5, after.DecodeStepMs(3), 9);
            Assert.Equal(before.EvictMs, after.EvictMs);
            Assert.Equal(before.WeightBytes, after.WeightBytes);
        }

        Assert.Equal(profile.DispatchMs, underLoad.DispatchMs); // outside the device: as measured
    }

    [Fact]
    public void The_compute_factor_of_a_replay_made_with_a_known_one_is_recovered()
    {
        // A "live" replay that is the simulation with every step 1.7x the profile and the swaps above: the fit must find
        // 1.7 (its grid is 0.02 apart) from the TTFT distribution and the swaps the requests report.
        var profile = Profile();
        var trace = SyntheticTrace.Generate(["a", "b"], new SyntheticTraceOptions
        {
            Requests = 40,
            RatePerSecond = 2,
            Users = 6,
            Seed = 5,
            PromptTokens = (32, 320),
            OutputTokens = (8, 48),
        });
        var live = SchedulerSimulation.Run(LoadCalibration.UnderLoad(profile, LiveSwaps, 1.7), trace, budgetBytes: 1500);
        var swapPerRequest = trace.Select((r, i) => i % 3 == 0 ? 0 : LiveSwaps[r.Model]).ToArray(); // 0: the request found its model

        var fit = LoadCalibration.Fit(profile, trace, live.TtftMs, swapPerRequest, budgetBytes: 1500, new SchedulerOptions());

        Assert.Equal(1.7, fit.Compute, 0.021);
        Assert.Equal(LiveSwaps, fit.SwapMs);
        Assert.True(fit.Error < 0.02, $"fit error {fit.Error}");
        var unscaled = SchedulerSimulation.Run(profile, trace, budgetBytes: 1500);
        Assert.True(Math.Abs((unscaled.Ttft(50) / live.Ttft(50)) - 1) > 0.2, "the profile as micro-benchmarked should not already agree");
    }

    [Fact]
    public void A_calibration_without_one_live_time_per_request_is_refused()
    {
        var trace = new[] { new TraceRequest(TimeSpan.Zero, "a", 32, 8, "u") };
        Assert.Throws<ArgumentException>(() => LoadCalibration.Fit(Profile(), trace, [], [], 1500, new SchedulerOptions()));
        Assert.Throws<ArgumentException>(() => LoadCalibration.Fit(Profile(), trace, [50], [], 1500, new SchedulerOptions()));
    }
}
