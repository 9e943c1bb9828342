using ModelRouter.Cli.Simulation;
using ModelRouter.Cli.Simulation.Validation;

namespace ModelRouter.Cli.Tests.Simulation;

/// <summary>validate-simulator's prefill model: fixed + linear + quadratic in the prompt's length, fitted through three measured prompts.</summary>
public sealed class PrefillFitTests
{
    [Fact]
    public void A_quadratic_through_the_three_prompts_is_recovered_and_costs_what_was_measured()
    {
        // t(n) = 4 ms + n / 2000 tok/s + 0.0002 ms·n²
        static double T(int n) => 4 + n * 0.5 + 0.0002 * n * n;
        var (fixedMs, rate, squared) = ProfileCalibration.FitPrefill([T(32), T(128), T(320)]);

        Assert.Equal(4, fixedMs, 6);
        Assert.Equal(2000, rate, 3);
        Assert.Equal(0.0002, squared, 9);
        var cost = Cost(fixedMs, rate, squared);
        Assert.Equal(T(200), cost.PrefillMs(200), 6);
        Assert.Equal(0, cost.PrefillMs(0)); // no prompt, no prefill step
    }

    [Fact]
    public void A_noisy_fit_with_a_negative_term_falls_back_to_the_line_through_the_ends()
    {
        // Concave (the middle prompt slow): the quadratic term would be negative.
        var (fixedMs, rate, squared) = ProfileCalibration.FitPrefill([10, 60, 100]);
        Assert.Equal(0, squared);
        Assert.Equal(1000 / ((100 - 10) / 288.0), rate, 6);
        Assert.Equal(10 - 32 * (90 / 288.0), fixedMs, 6);
    }

    [Fact]
    public void Without_the_measured_terms_a_profile_costs_tokens_over_rate_as_before()
    {
        var cost = Cost(0, 1000, 0);
        Assert.Equal(128, cost.PrefillMs(128), 9);
    }

    private static ModelCost Cost(double fixedMs, double rate, double squared) => new()
    {
        Model = "m",
        WeightBytes = 1,
        RestoreMs = 1,
        EvictMs = 1,
        ReloadMs = 1,
        PrefillTokensPerSecond = rate,
        PrefillFixedMs = fixedMs,
        PrefillMsPerTokenSquared = squared,
        DecodeTokensPerSecond = 100,
        Sources = new Dictionary<string, string>(),
    };
}
