namespace ModelRouter.Routing.Decisions;

/// <summary>
/// A slower, stronger second opinion for prompts the classifier is unsure about: typically a small local model
/// prompted to pick one of the routes, as routers built on a 4B model do for every request.
/// </summary>
public interface ILlmJudge
{
    /// <summary>The index into <paramref name="routes"/> the judge picks, or null when it gives no usable answer.</summary>
    ValueTask<int?> ChooseAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default);
}
