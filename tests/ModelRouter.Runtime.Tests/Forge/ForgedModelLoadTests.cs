using System.Text;
using ModelRouter.Interop;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Gguf;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Forge;

/// <summary>
/// The forge's promise: llama.cpp itself loads the forged files and decodes with them. Driven through the raw
/// bindings so that it checks the files, not the runtime's own model API.
/// </summary>
public sealed class ForgedModelLoadTests
{
    [Theory]
    [InlineData(ForgeArchitecture.Llama, ForgeWeightType.F16)]
    [InlineData(ForgeArchitecture.Llama, ForgeWeightType.Q8_0)]
    [InlineData(ForgeArchitecture.Llama, ForgeWeightType.Q4_0)]
    [InlineData(ForgeArchitecture.Qwen2, ForgeWeightType.F16)]
    [InlineData(ForgeArchitecture.Qwen2, ForgeWeightType.Q8_0)]
    [InlineData(ForgeArchitecture.Qwen2, ForgeWeightType.Q4_0)]
    public unsafe void Llama_cpp_loads_a_forged_tiny_model_and_decodes_finite_logits(ForgeArchitecture architecture, ForgeWeightType type)
    {
        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(architecture));
        RequireNative();
        using var dir = new TempDirectory("forge-load");
        var path = dir.File($"tiny-{architecture}-{type}.gguf");
        var shape = ForgePresets.TryGet("tiny", out var tiny) ? tiny with { Architecture = architecture } : throw new InvalidOperationException();
        ModelForge.Forge(new ForgeOptions(shape, type) { VocabPath = vocab, Seed = 42 }, path, cancellationToken: TestContext.Current.CancellationToken);
        GgufValidator.Validate(path);

        var modelParams = Llama.llama_model_default_params();
        modelParams.n_gpu_layers = 0;
        llama_model* model;
        fixed (byte* utf8Path = Encoding.UTF8.GetBytes(path + "\0"))
        {
            model = Llama.llama_model_load_from_file((sbyte*)utf8Path, modelParams);
        }

        Assert.True(model != null, $"llama.cpp did not load {path}");
        llama_context* context = null;
        try
        {
            var vocabHandle = Llama.llama_model_get_vocab(model);
            var nVocab = Llama.llama_vocab_n_tokens(vocabHandle);
            using (var source = GgufFile.Open(vocab))
            {
                Assert.Equal(source.GetArray("tokenizer.ggml.tokens").Count, nVocab);
            }

            var contextParams = Llama.llama_context_default_params();
            contextParams.n_ctx = 128;
            contextParams.n_batch = 64;
            contextParams.n_ubatch = 64;
            contextParams.n_threads = 2;
            contextParams.n_threads_batch = 2;
            context = Llama.llama_init_from_model(model, contextParams);
            Assert.True(context != null, "llama.cpp could not create a context for the forged model");

            var prompt = "Once upon a time"u8;
            var tokens = new int[32];
            int count;
            fixed (byte* text = prompt)
            fixed (int* tokenPtr = tokens)
            {
                count = Llama.llama_tokenize(vocabHandle, (sbyte*)text, prompt.Length, tokenPtr, tokens.Length, add_special: true, parse_special: false);
            }

            Assert.InRange(count, 2, tokens.Length);
            var next = 0;
            for (var step = 0; step < 2; step++)
            {
                fixed (int* tokenPtr = tokens)
                {
                    // First the prompt, then one greedy token on top of it (exercises the KV cache).
                    var batch = step == 0 ? Llama.llama_batch_get_one(tokenPtr, count) : Llama.llama_batch_get_one(&next, 1);
                    Assert.Equal(0, Llama.llama_decode(context, batch));
                }

                var logits = new ReadOnlySpan<float>(Llama.llama_get_logits_ith(context, -1), nVocab);
                var best = 0;
                for (var i = 0; i < logits.Length; i++)
                {
                    Assert.True(float.IsFinite(logits[i]), $"logit {i} is {logits[i]}");
                    if (logits[i] > logits[best])
                    {
                        best = i;
                    }
                }

                Assert.NotEqual(logits[0], logits[best]);
                next = best;
            }
        }
        finally
        {
            if (context != null)
            {
                Llama.llama_free(context);
            }

            Llama.llama_model_free(model);
        }
    }

    private static void RequireNative()
    {
        try
        {
            NativeRuntime.EnsureInitialized();
        }
        catch (NativeLibraryLoadException ex)
        {
            Assert.Skip("Native libraries are not built (./build.sh native): " + ex.Message);
        }
    }
}
