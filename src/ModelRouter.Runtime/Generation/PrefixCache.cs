using ModelRouter.Interop;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Generation;

/// <summary>
/// The ledger of a generation context's KV sequence slots: which slot a live sequence holds, and which tokens an idle
/// slot still has in its KV cells after its sequence finished. A new prompt takes the idle slot whose tokens share the
/// longest prefix with it, so only the rest of the prompt is decoded (llama-server's slot reuse, per slot and by token
/// prefix). It lives with the context, not with one <see cref="BatchedGenerator"/>: the scheduler makes a generator per
/// lease over a context the store keeps, and what the cells hold outlives each generator. One driver at a time.
/// </summary>
/// <remarks>
/// Invariant: a slot's KV cells hold exactly its entry's tokens at positions 0..Count-1 (idle), or belong to the live
/// sequence holding it. Every generation over the context goes through here, so nothing else writes those cells.
/// </remarks>
public sealed unsafe partial class PrefixCache
{
    /// <summary>
    /// A shared prefix shorter than this does not take a slot whose retained tokens it would partly discard: a few
    /// tokens (BOS, a system prompt's first word) are not worth a conversation's cached history.
    /// </summary>
    public const int MinReuseTokens = 8;

    private readonly InferenceContext context;
    private readonly Slot[] slots;
    private long clock;

    internal PrefixCache(InferenceContext context, int maxSequences, int budgetTokens)
    {
        this.context = context;
        BudgetTokens = budgetTokens;
        slots = new Slot[maxSequences];
        for (var i = 0; i < slots.Length; i++)
        {
            slots[i] = new Slot();
        }
    }

    /// <summary>Most tokens the idle slots keep together (least recently used dropped first); 0: nothing is kept.</summary>
    public int BudgetTokens { get; }

    /// <summary>Tokens the idle slots keep now.</summary>
    public int RetainedTokens
    {
        get
        {
            var total = 0;
            foreach (var slot in slots)
            {
                total += slot.Live ? 0 : slot.Count;
            }

            return total;
        }
    }

    /// <summary>Slots held by live sequences.</summary>
    public int LiveCount => slots.Count(s => s.Live);

    /// <summary>The tokens idle slot <paramref name="slot"/> keeps (empty when it is live or holds none); for tests and diagnostics.</summary>
    public ReadOnlySpan<int> RetainedAt(int slot) => slots[slot].Live ? [] : slots[slot].Tokens.AsSpan(0, slots[slot].Count);

    /// <summary>
    /// Gives a free slot to a new sequence whose tokens are <paramref name="tokens"/>, reusing at most
    /// <paramref name="maxReuse"/> of them from the KV cells of an idle slot, and trims that slot's cells past the shared
    /// prefix. Returns the slot (-1 when every slot is live) and in <paramref name="reused"/> how many leading tokens
    /// are in the cells already (positions 0..reused-1): decoding starts at that position.
    /// </summary>
    internal int Acquire(ReadOnlySpan<int> tokens, int maxReuse, out int reused)
    {
        reused = 0;
        int best = -1, bestCommon = 0, oldest = -1;
        for (var i = 0; i < slots.Length; i++)
        {
            var slot = slots[i];
            if (slot.Live)
            {
                continue;
            }

            if (oldest < 0 || slot.LastUsed < slots[oldest].LastUsed)
            {
                oldest = i;
            }

            var common = slot.Count == 0 ? 0 : tokens.CommonPrefixLength(slot.Tokens.AsSpan(0, slot.Count));
            common = Math.Min(common, maxReuse);
            // Worth it when long enough, or when the slot's whole content is the prefix (nothing cached is discarded).
            if (common > bestCommon && (common >= MinReuseTokens || common == slot.Count))
            {
                best = i;
                bestCommon = common;
            }
        }

        if (oldest < 0)
        {
            return -1;
        }

        var chosen = best >= 0 ? best : oldest; // LRU among idle slots; never-used (empty) slots are the least recent
        if (best >= 0 && TryKeepPrefix(chosen, bestCommon))
        {
            reused = bestCommon;
        }
        else
        {
            context.ClearSequence(chosen);
        }

        var entry = slots[chosen];
        entry.Live = true;
        entry.Count = 0;
        entry.LastUsed = ++clock;
        return chosen;
    }

    /// <summary>
    /// A live sequence ended (or gave its slot up) with <paramref name="decoded"/> in its cells (the tokens at positions
    /// 0..decoded.Length-1): the slot keeps them for a later prompt, within <see cref="BudgetTokens"/>.
    /// </summary>
    internal void Retain(int slot, ReadOnlySpan<int> decoded)
    {
        var entry = slots[slot];
        entry.Live = false;
        entry.LastUsed = ++clock;
        if (BudgetTokens == 0 || decoded.IsEmpty)
        {
            Forget(slot);
            return;
        }

        if (entry.Tokens.Length < decoded.Length)
        {
            entry.Tokens = new int[Math.Max(decoded.Length, Math.Min(context.SequenceCapacity, entry.Tokens.Length * 2))];
        }

        decoded.CopyTo(entry.Tokens);
        entry.Count = decoded.Length;
        EvictOverBudget();
    }

    /// <summary>Frees a slot and its cells (a sequence whose cells cannot be trusted: a failed decode, a fault).</summary>
    internal void Forget(int slot)
    {
        var entry = slots[slot];
        entry.Live = false;
        entry.Count = 0;
        context.ClearSequence(slot);
    }

    /// <summary>Drops every idle slot's tokens and cells.</summary>
    public void Clear()
    {
        for (var i = 0; i < slots.Length; i++)
        {
            if (!slots[i].Live)
            {
                Forget(i);
            }
        }
    }

    private void EvictOverBudget()
    {
        var retained = RetainedTokens;
        while (retained > BudgetTokens)
        {
            var victim = -1;
            for (var i = 0; i < slots.Length; i++)
            {
                if (!slots[i].Live && slots[i].Count > 0 && (victim < 0 || slots[i].LastUsed < slots[victim].LastUsed))
                {
                    victim = i;
                }
            }

            retained -= slots[victim].Count;
            Forget(victim);
        }
    }

    /// <summary>
    /// Removes the slot's cells from position <paramref name="keep"/> on. False when the memory cannot keep a part of a
    /// sequence (recurrent state) or a sliding window already dropped cells the prefix needs (llama-server's check).
    /// </summary>
    private bool TryKeepPrefix(int slot, int keep)
    {
        using var lease = new HandleLease(context.Handle);
        var memory = Llama.llama_get_memory(context.Pointer);
        var window = Llama.llama_model_n_swa(context.Model.Handle.Pointer);
        var first = Llama.llama_memory_seq_pos_min(memory, slot);
        if (first < 0 || first > Math.Max(0, keep - window))
        {
            return false;
        }

        return Llama.llama_memory_seq_rm(memory, slot, keep, -1);
    }

    // Save/restore to host memory (KV that survives a context's release) is in PrefixCache.Host.cs.
    private sealed class Slot
    {
        public int[] Tokens = [];

        public int Count;

        public bool Live;

        public long LastUsed;
    }
}
