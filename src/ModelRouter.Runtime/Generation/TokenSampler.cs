using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Generation;

/// <summary>Builds llama.cpp's sampler chain for a set of <see cref="SamplingParameters"/>.</summary>
internal static unsafe class TokenSampler
{
    public static SafeSamplerHandle Create(in SamplingParameters p, int vocabularySize)
    {
        var chain = Llama.llama_sampler_chain_init(Llama.llama_sampler_chain_default_params());
        var handle = new SafeSamplerHandle(chain);
        if (p.RepetitionPenalty != 1.0f && p.RepetitionLastN != 0)
        {
            Llama.llama_sampler_chain_add(chain, Llama.llama_sampler_init_penalties(vocabularySize, p.RepetitionLastN, p.RepetitionPenalty, 0, 0));
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
