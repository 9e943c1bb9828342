namespace ModelRouter.Routing.Policies;

/// <summary>
/// What the serving side (the model pool and scheduler) knows about how soon each model can answer. The server
/// implements it from the pool's current state; the latency policy only reads it.
/// </summary>
public interface IModelAvailability
{
    /// <summary>
    /// Estimated time until the model's first token for a request submitted now: queue wait, plus the swap-in the
    /// model would need if it is not resident, plus prompt processing.
    /// </summary>
    TimeSpan EstimateTimeToFirstToken(string model);
}
