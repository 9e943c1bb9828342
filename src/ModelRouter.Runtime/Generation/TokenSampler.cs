using ModelRouter.Interop;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Text;

namespace ModelRouter.Runtime.Generation;

/// <summary>Builds llama.cpp's sampler chain for a set of <see cref="SamplingParameters"/>.</summary>
internal static unsafe class TokenSampler
{
    /// <exception cref="StructuredOutputException">llama.cpp could not build the grammar against this vocabulary.</exception>
    /// <exception cref="NativeLibraryLoadException">A grammar was asked for and the native build has no libmr_common.</exception>
    public static SafeSamplerHandle Create(in SamplingParameters p, Vocabulary vocabulary)
    {
        if (string.IsNullOrEmpty(p.Grammar))
        {
            return new SafeSamplerHandle(CreateChain(p, vocabulary.Count));
        }

        StructuredOutput.CheckCommonAbi();
        var chain = CreateChain(p, vocabulary.Count);
        NativeLog.ClearRecentErrors(); // so that a failure reports llama.cpp's lines for this grammar only
        var grammar = p.GrammarTriggers is { Count: > 0 } || !string.IsNullOrEmpty(p.GrammarPrefill)
            ? CreateChatGrammar(p, vocabulary)
            : StructuredOutput.CreateGrammarSampler(vocabulary.Pointer, p.Grammar);
        if (grammar == null)
        {
            Llama.llama_sampler_free(chain);
            var why = NativeStrings.Read(MrShim.mr_last_error());
            throw new StructuredOutputException(StructuredOutput.GrammarFailure(
                string.IsNullOrEmpty(why) ? "the grammar does not compile against this model's vocabulary" : why));
        }

        // The gate (libmr_common) is llama.cpp's common sampler's way: the chain samples from all candidates, the
        // grammar checks that one token, and only a rejected token makes the grammar mask every candidate before the
        // chain samples again. Same distribution as masking first, without running the grammar over the whole
        // vocabulary at each step when the model's choice is already valid. It takes ownership of both samplers.
        llama_sampler* gate;
        try
        {
            gate = MrCommon.mr_sampler_init_grammar_gate(grammar, chain);
        }
        catch (DllNotFoundException)
        {
            Llama.llama_sampler_free(grammar);
            Llama.llama_sampler_free(chain);
            throw;
        }

        if (gate == null)
        {
            throw new InvalidOperationException("the grammar gate could not be created: " + NativeStrings.Read(MrShim.mr_last_error()));
        }

        // Inside a chain of its own: llama_sampler_sample then reuses the chain's candidate buffer at every step.
        var outer = Llama.llama_sampler_chain_init(Llama.llama_sampler_chain_default_params());
        Llama.llama_sampler_chain_add(outer, gate);
        return new SafeSamplerHandle(outer);
    }

    /// <summary>
    /// A chat format's grammar as llama.cpp's common sampler builds it (libmr_common): lazy until a trigger matches,
    /// and advanced past the generation prompt the template already wrote. Null when it does not compile or the
    /// prefill does not fit it (the shim's last error says which).
    /// </summary>
    private static llama_sampler* CreateChatGrammar(in SamplingParameters p, Vocabulary vocabulary)
    {
        var triggers = p.GrammarTriggers ?? [];
        var patterns = stackalloc nint[Math.Max(1, triggers.Count)];
        var grammar = NativeStrings.Allocate(p.Grammar!);
        var prefill = string.IsNullOrEmpty(p.GrammarPrefill) ? null : NativeStrings.Allocate(p.GrammarPrefill);
        var allocated = 0;
        try
        {
            for (; allocated < triggers.Count; allocated++)
            {
                patterns[allocated] = (nint)NativeStrings.Allocate(triggers[allocated]);
            }

            return MrCommon.mr_sampler_init_chat_grammar(vocabulary.Pointer, (sbyte*)grammar, triggers.Count > 0, (sbyte**)patterns,
                triggers.Count, (sbyte*)prefill);
        }
        finally
        {
            for (var i = 0; i < allocated; i++)
            {
                System.Runtime.InteropServices.NativeMemory.Free((void*)patterns[i]);
            }

            System.Runtime.InteropServices.NativeMemory.Free(prefill);
            System.Runtime.InteropServices.NativeMemory.Free(grammar);
        }
    }

    private static llama_sampler* CreateChain(in SamplingParameters p, int vocabularySize)
    {
        var chain = Llama.llama_sampler_chain_init(Llama.llama_sampler_chain_default_params());
        if (p.RepetitionPenalty != 1.0f && p.RepetitionLastN != 0)
        {
            Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_penalties(vocabularySize, p.RepetitionLastN, p.RepetitionPenalty, 0, 0));
        }

        if (p.Temperature <= 0)
        {
            Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_greedy());
            return chain;
        }

        if (p.TopK > 0)
        {
            Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_top_k(p.TopK));
        }

        if (p.TopP < 1)
        {
            Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_top_p(p.TopP, 1));
        }

        if (p.MinP > 0)
        {
            Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_min_p(p.MinP, 1));
        }

        Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_temp(p.Temperature));
        Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_dist(p.Seed));
        return chain;
    }
}
