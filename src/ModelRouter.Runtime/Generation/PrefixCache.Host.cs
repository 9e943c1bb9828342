using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Generation;

/// <summary>Idle slots copied to host memory (llama_state_seq_get_data), to be put back into a later context of the same weights.</summary>
public sealed class SavedPrefixes
{
    internal SavedPrefixes(IReadOnlyList<SavedPrefix> sequences)
    {
        Sequences = sequences;
        Bytes = sequences.Sum(s => (long)s.State.Length);
    }

    /// <summary>Hottest (most recently used) first.</summary>
    internal IReadOnlyList<SavedPrefix> Sequences { get; }

    /// <summary>Sequences saved.</summary>
    public int Count => Sequences.Count;

    /// <summary>Host memory the saved KV state takes.</summary>
    public long Bytes { get; }
}

/// <summary>One saved slot: its tokens and llama.cpp's serialised KV cells for them.</summary>
internal sealed record SavedPrefix(int[] Tokens, byte[] State);

public sealed unsafe partial class PrefixCache
{
    /// <summary>
    /// Copies the idle slots' KV cells to host memory, most recently used first, as many as fit in
    /// <paramref name="maxBytes"/> (a slot that does not fit is skipped for a smaller, colder one). Null when nothing
    /// is kept or nothing fits. The context is about to be freed: its cells are left as they are.
    /// </summary>
    public SavedPrefixes? Save(long maxBytes)
    {
        if (maxBytes <= 0)
        {
            return null;
        }

        var order = Enumerable.Range(0, slots.Length)
            .Where(i => !slots[i].Live && slots[i].Count > 0)
            .OrderByDescending(i => slots[i].LastUsed)
            .ToList();
        var saved = new List<SavedPrefix>();
        var total = 0L;
        using var lease = new HandleLease(context.Handle);
        foreach (var i in order)
        {
            var size = (long)Llama.llama_state_seq_get_size(context.Pointer, i);
            if (size <= 0 || total + size > maxBytes)
            {
                continue;
            }

            var state = new byte[size];
            nuint written;
            fixed (byte* destination = state)
            {
                written = Llama.llama_state_seq_get_data(context.Pointer, destination, (nuint)size, i);
            }

            if ((long)written != size)
            {
                continue; // llama.cpp could not write it (it says why in its log): that slot is simply not kept
            }

            saved.Add(new SavedPrefix(slots[i].Tokens.AsSpan(0, slots[i].Count).ToArray(), state));
            total += size;
        }

        return saved.Count == 0 ? null : new SavedPrefixes(saved);
    }

    /// <summary>
    /// Puts saved slots back into this (new, empty) context's idle slots, hottest first, as far as slots and
    /// <see cref="BudgetTokens"/> allow; a slot llama.cpp refuses (another model, another cell layout) is left empty.
    /// Returns how many were put back.
    /// </summary>
    public int Load(SavedPrefixes saved)
    {
        ArgumentNullException.ThrowIfNull(saved);
        var loaded = 0;
        var tokens = 0;
        var newest = clock + saved.Count; // the hottest, first in the list, gets the most recent stamp
        using var lease = new HandleLease(context.Handle);
        for (var index = 0; index < saved.Count; index++)
        {
            var prefix = saved.Sequences[index];
            var slot = Array.FindIndex(slots, s => !s.Live && s.Count == 0);
            if (slot < 0 || tokens + prefix.Tokens.Length > BudgetTokens || prefix.Tokens.Length > context.SequenceCapacity)
            {
                continue;
            }

            nuint read;
            fixed (byte* source = prefix.State)
            {
                read = Llama.llama_state_seq_set_data(context.Pointer, source, (nuint)prefix.State.Length, slot);
            }

            if (read == 0)
            {
                context.ClearSequence(slot); // llama.cpp clears on failure too; the ledger must agree with the cells
                continue;
            }

            var entry = slots[slot];
            entry.Tokens = prefix.Tokens;
            entry.Count = prefix.Tokens.Length;
            entry.LastUsed = newest - index;
            tokens += prefix.Tokens.Length;
            loaded++;
        }

        clock = newest;
        return loaded;
    }
}
