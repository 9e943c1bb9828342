using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Tests.Training;

public sealed class CalibrationTests
{
    [Fact]
    public void OverconfidentLogitsGetATemperatureAboveOne()
    {
        // Logits that always put 10 nats on the winner, which is right only 70% of the time.
        var logits = new List<float[]>();
        var gold = new List<int>();
        for (var i = 0; i < 100; i++)
        {
            logits.Add([10f, 0f]);
            gold.Add(i < 70 ? 0 : 1);
        }

        var t = Calibration.FitTemperature(logits, gold);
        Assert.True(t > 5, $"temperature {t}");
        Assert.True(Calibration.NegativeLogLikelihood(logits, gold, t) < Calibration.NegativeLogLikelihood(logits, gold, 1f));
    }

    [Fact]
    public void ThresholdsReachTheTargetPrecisionOrTheCap()
    {
        // Label 0: confident decisions are right, unconfident ones wrong. Label 1: always wrong.
        int[] predicted = [0, 0, 0, 0, 1, 1];
        float[] confidence = [0.95f, 0.9f, 0.5f, 0.4f, 0.9f, 0.8f];
        int[] gold = [0, 0, 1, 1, 0, 0];
        var thresholds = Calibration.Thresholds(2, predicted, confidence, gold, targetPrecision: 0.9, maxThreshold: 0.7f);
        Assert.Equal(0.7f, thresholds[0]); // 0.9 would do, but the cap wins
        Assert.Equal(0.7f, thresholds[1]);
        thresholds = Calibration.Thresholds(2, predicted, confidence, gold, targetPrecision: 0.9, maxThreshold: 1f);
        Assert.Equal(MathF.BitDecrement(0.9f), thresholds[0]);
        Assert.Equal(new float[2], Calibration.Thresholds(2, predicted, confidence, gold, targetPrecision: 0, maxThreshold: 1f));
    }

    [Fact]
    public void MacroF1OffsetsRepairAnUnderscoredLabel()
    {
        string[] labels = ["a", "b"];
        var logits = new List<float[]>();
        var gold = new List<int>();
        for (var i = 0; i < 100; i++)
        {
            logits.Add([1f, 0f]);
            gold.Add(0);
            logits.Add([0.5f, 0.2f]); // label b is always scored 0.3 too low
            gold.Add(1);
        }

        var offsets = Calibration.MacroF1Offsets(labels, logits, gold, 0.1f, 1.5f);
        Assert.Equal(0f, offsets.Sum(), 4);
        for (var i = 0; i < logits.Count; i++)
        {
            var predicted = logits[i][0] + offsets[0] >= logits[i][1] + offsets[1] ? 0 : 1;
            Assert.Equal(gold[i], predicted);
        }

        // Already perfect logits need no offset.
        var clean = Enumerable.Range(0, 10).Select(i => (float[])[i % 2 == 0 ? 1f : 0f, i % 2 == 0 ? 0f : 1f]).ToList();
        Assert.All(Calibration.MacroF1Offsets(labels, clean, Enumerable.Range(0, 10).Select(i => i % 2).ToList(), 0.1f, 1.5f), o => Assert.Equal(0f, o));
    }
}
