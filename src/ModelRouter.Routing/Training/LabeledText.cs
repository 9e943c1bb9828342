namespace ModelRouter.Routing.Training;

/// <summary>
/// One training or evaluation example: a prompt, the index of its label in the set's label list, and where it came
/// from (the record's <c>source_dataset</c>, or null), which leave-one-source-out checks hold out.
/// </summary>
public sealed record LabeledText(string Text, int Label, string? Source = null);
