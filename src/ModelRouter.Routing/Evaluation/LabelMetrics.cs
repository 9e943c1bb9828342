namespace ModelRouter.Routing.Evaluation;

/// <summary>Precision, recall and F1 of one label, with its support (gold examples).</summary>
public sealed record LabelMetrics(string Label, double Precision, double Recall, double F1, int Support);
