namespace ModelRouter.Routing.Training;

/// <summary>One training or evaluation example: a prompt and the index of its label in the set's label list.</summary>
public sealed record LabeledText(string Text, int Label);
