namespace ModelRouter.Routing.Classification;

/// <summary>The winning label of one decision and its calibrated probability.</summary>
public readonly record struct Prediction(int Label, float Confidence);
