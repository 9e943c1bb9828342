using System.Text;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;

namespace ModelRouter.Runtime.Tests.Generation;

public sealed class GenerationTests
{
    private static readonly ContextOptions SmallContext = new() { ContextLength = 256, BatchSize = 64, Threads = 1 };

    [Fact]
    public void Greedy_decoding_of_stories260K_equals_the_reference_text_token_for_token()
    {
        var reference = StoriesModel.ReferenceContinuation();
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, SmallContext);

        var text = new StringBuilder();
        var result = TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 60 }, utf8 => text.Append(Encoding.UTF8.GetString(utf8)));

        Assert.Equal(reference, text.ToString());
        Assert.Equal(FinishReason.MaxTokens, result.FinishReason);
        Assert.Equal(60, result.GeneratedTokens);
        Assert.Equal(5, result.PromptTokens); // BOS + 4 prompt tokens
    }

    [Fact]
    public async Task Async_stream_yields_the_same_text()
    {
        var reference = StoriesModel.ReferenceContinuation();
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, SmallContext);

        var text = new StringBuilder();
        await foreach (var chunk in TextGenerator.GenerateAsync(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 60 }, TestContext.Current.CancellationToken))
        {
            text.Append(chunk);
        }

        Assert.Equal(reference, text.ToString());
    }

    [Fact]
    public void Concurrent_sequences_in_one_context_each_match_their_solo_run()
    {
        using var model = StoriesModel.Load();
        string[] prompts = ["Once upon a time", "The little dog", "One day, Tom", "Lily and her mom"];
        var solo = new string[prompts.Length];
        using (var context = InferenceContext.Create(model, SmallContext))
        {
            for (var i = 0; i < prompts.Length; i++)
            {
                var text = new StringBuilder();
                TextGenerator.Generate(context, new GenerationRequest(prompts[i]) { MaxTokens = 24 }, u => text.Append(Encoding.UTF8.GetString(u)));
                solo[i] = text.ToString();
            }
        }

        using var shared = InferenceContext.Create(model, SmallContext with { ContextLength = 512, MaxSequences = 4 });
        using var generator = new BatchedGenerator(shared);
        var outputs = prompts.Select(_ => new StringBuilder()).ToArray();
        var sequences = prompts.Select(p => generator.Start(new GenerationRequest(p) { MaxTokens = 24 })).ToArray();
        Assert.False(generator.HasFreeSlot);
        while (generator.ActiveCount > 0)
        {
            generator.Step();
            for (var i = 0; i < sequences.Length; i++)
            {
                outputs[i].Append(Encoding.UTF8.GetString(sequences[i].NewText));
            }
        }

        for (var i = 0; i < prompts.Length; i++)
        {
            Assert.Equal(solo[i], outputs[i].ToString());
        }

        Assert.Contains(solo, s => s.Length > 20);
    }

    [Fact]
    public void A_stop_string_ends_generation_and_is_withheld()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, SmallContext);
        var text = new StringBuilder();

        var result = TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 60, StopStrings = ["Lily."] }, u => text.Append(Encoding.UTF8.GetString(u)));

        Assert.Equal(FinishReason.StopString, result.FinishReason);
        Assert.Equal(", there was a little girl named ", text.ToString());
    }

    [Fact]
    public void Sampling_with_a_seed_is_reproducible()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, SmallContext);
        var sampling = new SamplingParameters { Temperature = 1.0f, TopK = 40, TopP = 0.95f, MinP = 0.05f, RepetitionPenalty = 1.1f, Seed = 1234 };

        string Run(SamplingParameters s)
        {
            var text = new StringBuilder();
            TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 40, Sampling = s }, u => text.Append(Encoding.UTF8.GetString(u)));
            return text.ToString();
        }

        var first = Run(sampling);
        Assert.Equal(first, Run(sampling));
        var others = Enumerable.Range(1, 4).Select(seed => Run(sampling with { Seed = (uint)seed })).ToList();
        Assert.Contains(others, o => o != first);
    }

    [Fact]
    public void Prompt_longer_than_the_context_is_rejected_before_decoding()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, SmallContext with { ContextLength = 256 });
        var prompt = string.Concat(Enumerable.Repeat("Once upon a time there was a dog. ", 60));

        var ex = Assert.Throws<PromptTooLongException>(() => TextGenerator.Generate(context, new GenerationRequest(prompt), null));
        Assert.True(ex.PromptTokens > context.SequenceCapacity);

        // The context stays usable.
        Assert.Equal(FinishReason.MaxTokens, TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 5 }, null).FinishReason);
    }

    [Fact]
    public void Generation_stops_when_the_sequence_share_of_the_context_is_full()
    {
        using var model = StoriesModel.Load();
        // llama.cpp rounds n_ctx up (to 256 here); two sequences split it evenly.
        using var context = InferenceContext.Create(model, SmallContext with { ContextLength = 256, MaxSequences = 2 });
        Assert.Equal(context.ContextLength / 2, context.SequenceCapacity);

        var result = TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 1000 }, null);

        Assert.Equal(FinishReason.ContextFull, result.FinishReason);
        Assert.Equal(context.SequenceCapacity - result.PromptTokens + 1, result.GeneratedTokens);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-3)]
    public void Zero_or_negative_max_tokens_is_an_argument_error(int maxTokens)
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, SmallContext);

        Assert.Throws<ArgumentOutOfRangeException>(() => TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = maxTokens }, null));
    }

    [Fact]
    public void Cancellation_stops_generation_and_frees_the_sequence()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, SmallContext);
        using var cts = new CancellationTokenSource();
        var pieces = 0;

        var result = TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 60 }, _ =>
        {
            if (++pieces == 3)
            {
                cts.Cancel();
            }
        }, cts.Token);

        Assert.Equal(FinishReason.Cancelled, result.FinishReason);
        Assert.InRange(result.GeneratedTokens, 3, 4);

        // The same context generates the reference again: nothing of the cancelled sequence remains.
        var text = new StringBuilder();
        TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 60 }, u => text.Append(Encoding.UTF8.GetString(u)));
        Assert.Equal(StoriesModel.ReferenceContinuation(), text.ToString());
    }

    [Fact]
    public async Task Cancelling_the_async_stream_throws_operation_cancelled()
    {
        using var model = StoriesModel.Load();
        using var context = InferenceContext.Create(model, SmallContext);
        using var cts = new CancellationTokenSource();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var chunk in TextGenerator.GenerateAsync(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 60 }, cts.Token))
            {
                await cts.CancelAsync();
            }
        });
    }

    [Fact]
    public void Disposing_the_model_before_its_context_never_crashes()
    {
        var model = StoriesModel.Load();
        var context = InferenceContext.Create(model, SmallContext);

        model.Dispose();
        // The context still holds the weights (nothing is freed under it), but no new work starts on a disposed model.
        Assert.Throws<ObjectDisposedException>(() => model.Vocabulary.IsEndOfGeneration(0));
        Assert.Throws<ObjectDisposedException>(() => TextGenerator.Generate(context, new GenerationRequest(StoriesModel.Prompt) { MaxTokens = 5 }, null));
        context.Dispose();
        context.Dispose();
        model.Dispose();
    }
}
