using ModelRouter.Interop;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Text;

namespace ModelRouter.Runtime.Generation;

/// <summary>Builds llama.cpp's sampler chain for a set of <see cref="SamplingParameters"/>.</summary>
internal static unsafe class TokenSampler
{
    /// <exception cref="StructuredOutputException">llama.cpp could not build the grammar against this vocabulary.</exception>
    public static SafeSamplerHandle Create(in SamplingParameters p, Vocabulary vocabulary)
    {
        var chain = Llama.llama_sampler_chain_init(Llama.llama_sampler_chain_default_params());
        var handle = new SafeSamplerHandle(chain);
        if (!string.IsNullOrEmpty(p.Grammar))
        {
            // First, as common_sampler's grammar_first path: the grammar masks every token that would leave the
            // language, so top-k/top-p/min-p then choose among valid tokens only (after them, they could leave
            // nothing valid). The chain's accept feeds each sampled token to the grammar's state as well.
            NativeLog.ClearRecentErrors(); // so that a failure reports llama.cpp's lines for this grammar only
            var grammar = StructuredOutput.CreateGrammarSampler(vocabulary.Pointer, p.Grammar);
            if (grammar == null)
            {
                handle.Dispose();
                throw new StructuredOutputException(StructuredOutput.GrammarFailure("the grammar does not compile against this model's vocabulary"));
            }

            Llama.llama_sampler_chain_add(chain, grammar);
        }

        if (p.RepetitionPenalty != 1.0f && p.RepetitionLastN != 0)
        {
            Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_penalties(vocabulary.Count, p.RepetitionLastN, p.RepetitionPenalty, 0, 0));
        }

        if (p.Temperature <= 0)
        {
            Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_greedy());
            return handle;
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
        return handle;
    }
}
