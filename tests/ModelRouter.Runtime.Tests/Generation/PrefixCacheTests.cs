using System.Text;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Text;

namespace ModelRouter.Runtime.Tests.Generation;

/// <summary>Prefix reuse: a prompt that starts with what an idle slot's KV cells hold decodes only the rest, with the same output.</summary>
public sealed class PrefixCacheTests
{
    private static readonly ContextOptions Reuse = new() { ContextLength = 512, BatchSize = 64, Threads = 1 };
    private static readonly ContextOptions NoReuse = Reuse with { PrefixCacheTokens = 0 };

    [Fact]
    public void A_second_turn_reuses_the_first_turns_cells_and_generates_exactly_what_a_cold_context_does()
    {
        using var model = StoriesModel.Load();
        using var warm = InferenceContext.Create(model, Reuse);
        var (answer, first) = Run(warm, StoriesModel.Prompt, 40);
        Assert.Equal(0, first.CachedPromptTokens);

        var turn2 = StoriesModel.Prompt + answer + " Then the sun came out and";
        var (reused, second) = Run(warm, turn2, 40);

        using var cold = InferenceContext.Create(model, NoReuse);
        var (expected, coldResult) = Run(cold, turn2, 40);
        Assert.Equal(expected, reused);
        Assert.Equal(0, coldResult.CachedPromptTokens);
        Assert.Equal(coldResult.PromptTokens, second.PromptTokens);

        // Cached: the tokens the new prompt shares with the first turn's prompt and answer (as decoded).
        var shared = Tokens(model, turn2).AsSpan().CommonPrefixLength(Tokens(model, StoriesModel.Prompt + answer));
        Assert.True(shared >= first.PromptTokens, $"only {shared} tokens shared");
        Assert.InRange(second.CachedPromptTokens, first.PromptTokens, shared);
        Assert.True(second.CachedPromptTokens < second.PromptTokens);
    }

    [Fact]
    public void The_same_prompt_again_decodes_only_its_last_token_and_repeats_its_output()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, Reuse);
        const string prompt = "Once upon a time there was a little girl named Lily. She loved to play";
        var (first, firstResult) = Run(context, prompt, 30);
        var (again, result) = Run(context, prompt, 30);

        Assert.Equal(first, again);
        Assert.Equal(firstResult.PromptTokens - 1, result.CachedPromptTokens); // the last one is decoded for its logits
    }

    [Fact]
    public void Without_reuse_nothing_is_cached_and_no_cells_are_kept()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, NoReuse);
        Run(context, StoriesModel.Prompt, 20);
        var (_, result) = Run(context, StoriesModel.Prompt, 20);

        Assert.Equal(0, result.CachedPromptTokens);
        Assert.Equal(0, context.Prefixes.RetainedTokens);
    }

    [Fact]
    public void Two_concurrent_requests_sharing_a_cached_prefix_both_generate_their_solo_output()
    {
        using var model = StoriesModel.Load();
        const string history = "Once upon a time there was a little dog named Max. Max liked to run in the park with his friend";
        string[] prompts = [history + " Tom. One day", history + " Sue. They saw a big"];
        var solo = new string[prompts.Length];
        using (var cold = InferenceContext.Create(model, NoReuse))
        {
            for (var i = 0; i < prompts.Length; i++)
            {
                solo[i] = Run(cold, prompts[i], 24).Text;
            }
        }

        using var shared = InferenceContext.Create(model, Reuse with { ContextLength = 1024, MaxSequences = 4 });
        Run(shared, history, 8); // leaves the history in one idle slot

        using var generator = new BatchedGenerator(shared);
        var sequences = prompts.Select(p => generator.Start(new GenerationRequest(p) { MaxTokens = 24 })).ToArray();
        Assert.NotEqual(sequences[0].Id, sequences[1].Id);
        // One of them took the slot holding the history; the other could not share it (it is live) and decodes all.
        Assert.True(sequences[0].CachedPromptTokenCount > 10);
        Assert.Equal(0, sequences[1].CachedPromptTokenCount);
        var outputs = Drain(generator, sequences);
        Assert.Equal(solo, outputs);
    }

    [Fact]
    public void Over_the_budget_the_least_recently_used_idle_slot_is_dropped()
    {
        using var model = StoriesModel.Load();
        const int budget = 30;
        using var context = InferenceContext.Create(model, Reuse with { ContextLength = 1024, MaxSequences = 4, PrefixCacheTokens = budget });
        const string a = "Once upon a time there was a big red ball";
        const string b = "The little dog ran to the tree and saw a cat";
        const string c = "Lily and her mom went to the park to play";
        var (_, ra) = Run(context, a, 10);
        var (_, rb) = Run(context, b, 10);
        // Each keeps its prompt and the answer's tokens but the last (sampled, never decoded).
        var (keptA, keptB) = (ra.PromptTokens + ra.GeneratedTokens - 1, rb.PromptTokens + rb.GeneratedTokens - 1);
        Assert.True(keptA <= budget && keptB <= budget && keptA + keptB > budget, $"the test needs each run within the budget and two over it ({keptA}, {keptB})");

        // A's cells were the least recently used: dropped when B's made the total exceed the budget.
        Assert.Equal(keptB, context.Prefixes.RetainedTokens);
        var (_, again) = Run(context, b, 10);
        Assert.Equal(rb.PromptTokens - 1, again.CachedPromptTokens);
        var (_, cold) = Run(context, a, 10);
        Assert.Equal(0, cold.CachedPromptTokens);
        Run(context, c, 10);
        Assert.InRange(context.Prefixes.RetainedTokens, 1, budget);
    }

    [Fact]
    public void A_prompt_sharing_only_a_few_tokens_takes_an_empty_slot_and_keeps_the_cached_one()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, Reuse with { ContextLength = 1024, MaxSequences = 2 });
        const string story = "Once upon a time there was a little girl named Lily. She loved to play";
        Run(context, story, 10);
        var (_, other) = Run(context, "Once upon a hill", 10); // shares BOS and "Once upon a": fewer than MinReuseTokens
        Assert.Equal(0, other.CachedPromptTokens);

        var (_, back) = Run(context, story, 10);
        Assert.Equal(back.PromptTokens - 1, back.CachedPromptTokens);
    }

    [Fact]
    public void A_parked_sequence_resumes_from_its_own_cells_and_finishes_as_if_never_parked()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, Reuse with { ContextLength = 512, MaxSequences = 2 });
        var expected = Run(context, StoriesModel.Prompt, 40).Text;
        context.Prefixes.Clear();

        using var generator = new BatchedGenerator(context);
        var sequence = generator.Start(new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 40 });
        var text = new StringBuilder();
        for (var i = 0; i < 12; i++)
        {
            generator.Step();
            text.Append(Encoding.UTF8.GetString(sequence.NewText));
        }

        generator.Park(sequence);
        Assert.Equal(0, context.Prefixes.LiveCount);
        generator.Resume(sequence);
        Assert.True(sequence.CanPark); // generating at once: everything it decoded was still in its cells
        while (!sequence.IsFinished)
        {
            generator.Step();
            text.Append(Encoding.UTF8.GetString(sequence.NewText));
        }

        Assert.Equal(expected, text.ToString());
    }

    [Fact]
    public void A_negative_budget_is_refused()
    {
        using var model = StoriesModel.Load();
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceContext.Create(model, Reuse with { PrefixCacheTokens = -1 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => InferenceContext.Create(model, Reuse with { HostKvBudgetBytes = -1 }));
    }

    internal static (string Text, GenerationResult Result) Run(InferenceContext context, string prompt, int maxTokens)
    {
        var text = new StringBuilder();
        var result = TextGenerator.Generate(context, new GenerationRequest(prompt) { MaxTokens = maxTokens }, u => text.Append(Encoding.UTF8.GetString(u)));
        return (text.ToString(), result);
    }

    private static string[] Drain(BatchedGenerator generator, GenerationSequence[] sequences)
    {
        var outputs = sequences.Select(_ => new StringBuilder()).ToArray();
        while (generator.ActiveCount > 0)
        {
            generator.Step();
            for (var i = 0; i < sequences.Length; i++)
            {
                outputs[i].Append(Encoding.UTF8.GetString(sequences[i].NewText));
            }
        }

        return outputs.Select(o => o.ToString()).ToArray();
    }

    private static int[] Tokens(Model model, string text) => model.Vocabulary.Tokenize(text, TokenizeOptions.AddSpecial);
}
