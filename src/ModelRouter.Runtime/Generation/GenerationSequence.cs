using System.Diagnostics;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Generation;

/// <summary>
/// One request being generated inside a <see cref="BatchedGenerator"/>: its KV sequence id, prompt progress,
/// sampler and output. After each <see cref="BatchedGenerator.Step"/>, <see cref="NewText"/> holds the UTF-8 text
/// it produced in that step (complete characters only).
/// </summary>
public sealed class GenerationSequence
{
    // The prompt's tokens, then every sampled token: what a parked sequence replays to rebuild its KV cells.
    private int[] history;
    private readonly StreamingTextBuffer output;
    private readonly long startTimestamp;
    private long firstTokenTimestamp;
    private long finishTimestamp;

    internal GenerationSequence(int id, GenerationRequest request, int[] prompt, int promptLength, int cachedLength, SafeSamplerHandle sampler, CancellationToken cancellation)
    {
        Id = id;
        Request = request;
        history = prompt;
        PromptTokenCount = promptLength;
        CachedPromptTokenCount = cachedLength;
        PromptCursor = cachedLength;
        Position = cachedLength;
        ReplayEnd = promptLength;
        Sampler = sampler;
        Cancellation = cancellation;
        output = new StreamingTextBuffer(request.StopStrings);
        startTimestamp = Stopwatch.GetTimestamp();
    }

    /// <summary>The KV-cache sequence id (0 .. MaxSequences-1) while it runs; -1 while parked.</summary>
    public int Id { get; internal set; }

    /// <summary>Whether it gave its slot up for another request (<see cref="BatchedGenerator.Park"/>) and waits to resume.</summary>
    public bool IsParked => Id < 0 && !IsFinished;

    /// <summary>Whether <see cref="BatchedGenerator.Park"/> can take its slot now: it is generating (its prompt is in).</summary>
    public bool CanPark => Id >= 0 && !IsFinished && !PromptPending && NextToken >= 0;

    public GenerationRequest Request { get; }

    /// <summary>Special tokens whose text this output keeps (<see cref="GenerationRequest.PreservedTokens"/>); few, often none.</summary>
    internal int[] RenderedSpecialTokens { get; init; } = [];

    internal bool RendersSpecial(int token) => RenderedSpecialTokens.Length != 0 && Array.IndexOf(RenderedSpecialTokens, token) >= 0;

    public int PromptTokenCount { get; }

    /// <summary>
    /// Leading prompt tokens whose KV cells a finished sequence left in its slot (prefix reuse): not decoded again. At
    /// most PromptTokenCount - 1, since the last prompt token is always decoded for the first token's logits.
    /// </summary>
    public int CachedPromptTokenCount { get; }

    public int GeneratedTokenCount { get; private set; }

    public FinishReason? FinishReason { get; private set; }

    public bool IsFinished => FinishReason is not null;

    /// <summary>UTF-8 text produced by the last step; valid until the next step.</summary>
    public ReadOnlySpan<byte> NewText => output.Emitted;

    /// <summary>From start to the first generated token (prompt processing included); null before it.</summary>
    public TimeSpan? TimeToFirstToken => firstTokenTimestamp == 0 ? null : Stopwatch.GetElapsedTime(startTimestamp, firstTokenTimestamp);

    /// <summary>Generated tokens per second after the first one; 0 until two tokens exist.</summary>
    public double DecodeTokensPerSecond
    {
        get
        {
            if (GeneratedTokenCount < 2 || firstTokenTimestamp == 0)
            {
                return 0;
            }

            var end = finishTimestamp != 0 ? finishTimestamp : Stopwatch.GetTimestamp();
            var seconds = Stopwatch.GetElapsedTime(firstTokenTimestamp, end).TotalSeconds;
            return seconds > 0 ? (GeneratedTokenCount - 1) / seconds : 0;
        }
    }

    internal SafeSamplerHandle Sampler { get; }

    internal CancellationToken Cancellation { get; }

    internal int PromptCursor { get; set; }

    internal int Position { get; set; }

    /// <summary>The last sampled token, to be fed in the next step; -1 while the prompt is still going in.</summary>
    internal int NextToken { get; set; } = -1;

    /// <summary>Index in the current batch whose logits this sequence samples from; -1 when none.</summary>
    internal int BatchIndex { get; set; } = -1;

    /// <summary>End of the tokens still to feed before generating: the prompt, or after a resume what was decoded before.</summary>
    internal int ReplayEnd { get; set; }

    internal bool PromptPending => PromptCursor < ReplayEnd;

    internal int PromptToken(int index) => history[index];

    /// <summary>The tokens in its KV cells now (positions 0..Position-1): what its slot keeps for prefix reuse.</summary>
    internal ReadOnlySpan<int> DecodedTokens => history.AsSpan(0, Position);

    /// <summary>What a resume must have in its cells before generating again (after <see cref="BatchedGenerator.Park"/>).</summary>
    internal ReadOnlySpan<int> ReplayTokens => history.AsSpan(0, ReplayEnd);

    /// <summary>Keeps a sampled token for a replay after a park (the prompt's buffer grows from the pool).</summary>
    internal void RecordSampled(int token)
    {
        var length = PromptTokenCount + GeneratedTokenCount; // this token's index: AddGenerated has counted it already
        if (length > history.Length)
        {
            var grown = System.Buffers.ArrayPool<int>.Shared.Rent(Math.Max(length, history.Length * 2));
            history.AsSpan(0, length - 1).CopyTo(grown);
            System.Buffers.ArrayPool<int>.Shared.Return(history);
            history = grown;
        }

        history[length - 1] = token;
    }

    internal void BeginStep() => output.BeginStep();

    /// <summary>Records a generated token's text; returns true when a stop string appeared.</summary>
    internal bool AddGenerated(ReadOnlySpan<byte> piece)
    {
        if (GeneratedTokenCount++ == 0)
        {
            firstTokenTimestamp = Stopwatch.GetTimestamp();
        }

        return output.Append(piece);
    }

    internal void MarkFirstTokenIfNone()
    {
        if (firstTokenTimestamp == 0)
        {
            firstTokenTimestamp = Stopwatch.GetTimestamp();
        }
    }

    internal void Finish(FinishReason reason)
    {
        if (reason != Generation.FinishReason.StopString)
        {
            output.Flush();
        }

        FinishReason = reason;
        finishTimestamp = Stopwatch.GetTimestamp();
        Sampler.Dispose();
        System.Buffers.ArrayPool<int>.Shared.Return(history);
    }
}
