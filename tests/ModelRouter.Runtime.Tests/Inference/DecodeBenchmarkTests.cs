using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Tests.Generation;

namespace ModelRouter.Runtime.Tests.Inference;

/// <summary>The raw pp/tg runs bench-decode compares with llama-bench: they run, repeat, and refuse what cannot fit (no timing asserted).</summary>
public sealed class DecodeBenchmarkTests
{
    [Fact]
    public void Prompt_and_generation_runs_repeat_from_an_empty_cache()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, new ContextOptions { ContextLength = 128, BatchSize = 2048, Threads = 1 });
        var random = new Random(7);

        // Each run starts from an empty cache: repeating a run that fills most of the context must not run out of room.
        for (var i = 0; i < 3; i++)
        {
            Assert.True(DecodeBenchmark.ProcessPrompt(context, 100, random) > TimeSpan.Zero);
            Assert.True(DecodeBenchmark.GenerateTokens(context, 100, random) > TimeSpan.Zero);
            Assert.True(DecodeBenchmark.GenerateTokensDirect(context, 100, random) > TimeSpan.Zero);
        }
    }

    [Fact]
    public void Prompts_longer_than_the_batch_are_fed_in_chunks()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, new ContextOptions { ContextLength = 256, BatchSize = 32, Threads = 1 });
        Assert.True(DecodeBenchmark.ProcessPrompt(context, 200, new Random(1)) > TimeSpan.Zero);
    }

    [Fact]
    public void More_tokens_than_the_context_holds_are_refused_before_decoding()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, new ContextOptions { ContextLength = 64, Threads = 1 });
        var tooMany = context.SequenceCapacity + 1;
        Assert.Throws<ArgumentOutOfRangeException>(() => DecodeBenchmark.ProcessPrompt(context, tooMany, new Random(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => DecodeBenchmark.GenerateTokens(context, tooMany, new Random(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => DecodeBenchmark.GenerateTokensDirect(context, tooMany, new Random(1)));
        Assert.Throws<ArgumentOutOfRangeException>(() => DecodeBenchmark.GenerateTokens(context, 0, new Random(1)));
    }
}
