using ModelRouter.Routing.Classification;
using ModelRouter.Routing.Training;

namespace ModelRouter.Routing.Evaluation;

/// <summary>
/// Leave-one-source-out: train on every example whose source is not <c>source</c>, evaluate on the examples that are.
/// A source the model has never seen is the nearest thing to real traffic a training set can offer; a change that
/// raises the in-distribution figure but lowers these is not an improvement.
/// </summary>
public static class SourceHoldout
{
    /// <summary>Trains without <paramref name="source"/> and evaluates on it.</summary>
    /// <exception cref="TrainingDataException">No example has that source (the message lists the sources), or nothing else is left to train on.</exception>
    public static (RouterEvaluation Evaluation, int Trained, int Held) Run(TrainingSet data, string source, TrainerOptions options, int latencyDecisions = 0)
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        var held = data.FilterSource(source, keep: true);
        if (held.Examples.Count == 0)
        {
            throw new TrainingDataException($"no example has source_dataset '{source}'; sources: {string.Join(", ", data.Sources.Select(x => "'" + x + "'"))}.");
        }

        var rest = data.FilterSource(source, keep: false);
        if (rest.Examples.Select(e => e.Label).Distinct().Count() < 2)
        {
            throw new TrainingDataException($"without '{source}' fewer than two labels are left to train on.");
        }

        var result = RouterTrainer.Train(rest, options);
        var path = Path.Combine(Path.GetTempPath(), $"modelrouter-holdout-{Environment.ProcessId}-{Guid.NewGuid():N}.mrtc");
        try
        {
            ClassifierFileWriter.Write(result.Model, path);
            using var classifier = TaskClassifier.Load(path);
            return (RouterEvaluation.Run(classifier, held, latencyDecisions), rest.Examples.Count, held.Examples.Count);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
