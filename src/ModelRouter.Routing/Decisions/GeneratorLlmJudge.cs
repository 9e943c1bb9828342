using System.Globalization;
using System.Text;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;

namespace ModelRouter.Routing.Decisions;

/// <summary>
/// An LLM judge on our own runtime: the prompt and the route names go into a short instruction, the model answers
/// greedily in a few tokens, and the first route named in the answer is the choice. One context serves one request at
/// a time, so calls are serialised; wrap it in <see cref="CachedLlmJudge"/> so each distinct prompt is judged once.
/// </summary>
public sealed class GeneratorLlmJudge : ILlmJudge, IDisposable
{
    /// <summary>Prompt characters shown to the judge (a long paste is cut; its start says what is asked).</summary>
    public const int MaxPromptChars = 2000;

    private readonly InferenceContext context;
    private readonly SemaphoreSlim gate = new(1, 1);
    private readonly int maxTokens;

    public GeneratorLlmJudge(InferenceContext context, int maxTokens = 8)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxTokens, 1);
        this.context = context;
        this.maxTokens = maxTokens;
    }

    /// <summary>The instruction the judge model sees.</summary>
    public static string BuildPrompt(string prompt, IReadOnlyList<string> routes)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(routes);
        var text = new StringBuilder();
        text.Append("Classify the user request into exactly one task type.\nTask types: ");
        text.AppendJoin(", ", routes);
        text.Append("\n\nRequest:\n");
        text.Append(prompt.Length > MaxPromptChars ? prompt[..MaxPromptChars] : prompt);
        text.Append("\n\nAnswer with the task type only.\nTask type:");
        return text.ToString();
    }

    /// <summary>The route named earliest in <paramref name="answer"/> (case-insensitive; '_' and ' ' alike), or null.</summary>
    public static int? ParseAnswer(string answer, IReadOnlyList<string> routes)
    {
        ArgumentNullException.ThrowIfNull(answer);
        ArgumentNullException.ThrowIfNull(routes);
        var normalized = answer.Replace('_', ' ').ToLower(CultureInfo.InvariantCulture);
        int? best = null;
        var bestAt = int.MaxValue;
        for (var i = 0; i < routes.Count; i++)
        {
            var at = normalized.IndexOf(routes[i].Replace('_', ' ').ToLower(CultureInfo.InvariantCulture), StringComparison.Ordinal);
            if (at >= 0 && at < bestAt)
            {
                bestAt = at;
                best = i;
            }
        }

        return best;
    }

    public async ValueTask<int?> ChooseAsync(string prompt, IReadOnlyList<string> routes, CancellationToken cancellationToken = default)
    {
        await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var answer = new StringBuilder();
            var request = new GenerationRequest(BuildPrompt(prompt, routes)) { MaxTokens = maxTokens, Sampling = SamplingParameters.Greedy };

            // Decoding is synchronous native work: keep it off the caller's thread.
            await Task.Run(
                () => TextGenerator.Generate(context, request, utf8 => answer.Append(Encoding.UTF8.GetString(utf8)), cancellationToken),
                cancellationToken).ConfigureAwait(false);
            return ParseAnswer(answer.ToString(), routes);
        }
        finally
        {
            gate.Release();
        }
    }

    public void Dispose() => gate.Dispose();
}
