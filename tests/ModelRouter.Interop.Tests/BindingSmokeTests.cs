using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace ModelRouter.Interop.Tests;

/// <summary>
/// End-to-end calls through the raw generated bindings: if a signature or a struct were wrong, these would
/// crash or return nonsense. The safe API (ModelRouter.Runtime) is tested on its own.
/// </summary>
public sealed unsafe class BindingSmokeTests
{
    private const string VocabFile = "models/ggml-vocab-llama-bpe.gguf";
    private const string CaseSeparator = "\n__ggml_vocab_test__\n";

    static BindingSmokeTests() => Llama.llama_backend_init();

    [Fact]
    public void Vocab_only_model_tokenizes_every_reference_case_of_llama_bpe()
    {
        var vocabPath = TestPaths.RequireLlamaFile(VocabFile);
        var inputs = File.ReadAllText(vocabPath + ".inp").Split(CaseSeparator);
        var outputs = File.ReadAllText(vocabPath + ".out").Split('\n');

        var model = LoadModel(vocabPath, vocabOnly: true);
        try
        {
            var vocab = Llama.llama_model_get_vocab(model);
            Assert.True(Llama.llama_vocab_n_tokens(vocab) > 100_000); // Llama 3's BPE vocabulary

            var tokens = new int[4096];
            var cases = 0;
            for (var i = 0; i < inputs.Length; i++)
            {
                // The .inp file ends with a separator line; test-tokenizer-0 ignores the empty remainder too.
                if (i == inputs.Length - 1 && inputs[i].Length == 0)
                {
                    break;
                }

                var expected = outputs[i].Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();
                var actual = Tokenize(vocab, inputs[i], tokens, addSpecial: false);
                Assert.True(expected.AsSpan().SequenceEqual(actual), $"case {i} '{inputs[i]}': expected [{string.Join(' ', expected)}], got [{string.Join(' ', actual.ToArray())}]");
                cases++;
            }

            Assert.True(cases > 20, $"only {cases} cases read from {vocabPath}.inp");
        }
        finally
        {
            Llama.llama_model_free(model);
        }
    }

    [Fact]
    public void Stories260K_decodes_one_batch_and_predicts_the_reference_next_token()
    {
        var path = TestPaths.RequireSharedModel("stories260K.gguf");
        var model = LoadModel(path, vocabOnly: false);
        try
        {
            var vocab = Llama.llama_model_get_vocab(model);
            var ctxParams = Llama.llama_context_default_params();
            ctxParams.n_ctx = 128;
            ctxParams.n_batch = 64;
            ctxParams.n_threads = 1;
            ctxParams.n_threads_batch = 1;
            var ctx = Llama.llama_init_from_model(model, ctxParams);
            Assert.True(ctx != null, "llama_init_from_model returned NULL");
            try
            {
                // BOS added, as llama.cpp's server adds it.
                var prompt = Tokenize(vocab, "Once upon a time", new int[64], addSpecial: true).ToArray();
                Assert.Equal(Llama.llama_vocab_bos(vocab), prompt[0]);

                fixed (int* tokens = prompt)
                {
                    var batch = Llama.llama_batch_get_one(tokens, prompt.Length);
                    Assert.Equal(0, Llama.llama_decode(ctx, batch));
                }

                var nVocab = Llama.llama_vocab_n_tokens(vocab);
                Assert.Equal(512, nVocab);
                var logits = new ReadOnlySpan<float>(Llama.llama_get_logits_ith(ctx, -1), nVocab);
                var best = 0;
                for (var i = 1; i < logits.Length; i++)
                {
                    Assert.True(float.IsFinite(logits[i]));
                    if (logits[i] > logits[best])
                    {
                        best = i;
                    }
                }

                // ../shared/models/README.md: greedy decoding continues "Once upon a time" with ", there was ...".
                Assert.Equal(",", Piece(vocab, best));
            }
            finally
            {
                Llama.llama_free(ctx);
            }
        }
        finally
        {
            Llama.llama_model_free(model);
        }
    }

    [Fact]
    public void Gguf_reads_stories260K_metadata_and_tensor_offsets()
    {
        var path = TestPaths.RequireSharedModel("stories260K.gguf");
        var fileSize = new FileInfo(path).Length;

        var pathBytes = Utf8Z(path);
        gguf_context* gguf;
        fixed (byte* p = pathBytes)
        {
            gguf = Gguf.gguf_init_from_file((sbyte*)p, new gguf_init_params { no_alloc = true, ctx = null });
        }

        Assert.True(gguf != null, "gguf_init_from_file returned NULL");
        try
        {
            Assert.Equal(3u, Gguf.gguf_get_version(gguf));
            fixed (byte* key = "general.architecture\0"u8)
            {
                var id = Gguf.gguf_find_key(gguf, (sbyte*)key);
                Assert.True(id >= 0);
                Assert.Equal(gguf_type.GGUF_TYPE_STRING, Gguf.gguf_get_kv_type(gguf, id));
                Assert.Equal("llama", Marshal.PtrToStringUTF8((nint)Gguf.gguf_get_val_str(gguf, id)));
            }

            var tensors = Gguf.gguf_get_n_tensors(gguf);
            Assert.True(tensors > 0);
            var dataOffset = (long)Gguf.gguf_get_data_offset(gguf);
            for (long i = 0; i < tensors; i++)
            {
                var start = dataOffset + (long)Gguf.gguf_get_tensor_offset(gguf, i);
                var end = start + (long)Gguf.gguf_get_tensor_size(gguf, i);
                Assert.InRange(end, start + 1, fileSize);
            }
        }
        finally
        {
            Gguf.gguf_free(gguf);
        }
    }

    private static llama_model* LoadModel(string path, bool vocabOnly)
    {
        var parameters = Llama.llama_model_default_params();
        parameters.vocab_only = vocabOnly;
        parameters.n_gpu_layers = 0;
        var pathBytes = Utf8Z(path);
        llama_model* model;
        fixed (byte* p = pathBytes)
        {
            model = Llama.llama_model_load_from_file((sbyte*)p, parameters);
        }

        Assert.True(model != null, $"llama_model_load_from_file({path}) returned NULL");
        return model;
    }

    private static ReadOnlySpan<int> Tokenize(llama_vocab* vocab, string text, int[] buffer, bool addSpecial)
    {
        var utf8 = Encoding.UTF8.GetBytes(text);
        fixed (byte* t = utf8)
        fixed (int* tokens = buffer)
        {
            var n = Llama.llama_tokenize(vocab, (sbyte*)t, utf8.Length, tokens, buffer.Length, addSpecial, false);
            Assert.True(n >= 0, $"llama_tokenize needs {-n} tokens, buffer holds {buffer.Length}");
            return buffer.AsSpan(0, n);
        }
    }

    private static string Piece(llama_vocab* vocab, int token)
    {
        var buffer = stackalloc byte[64];
        var n = Llama.llama_token_to_piece(vocab, token, (sbyte*)buffer, 64, 0, false);
        Assert.True(n >= 0);
        return Encoding.UTF8.GetString(buffer, n);
    }

    private static byte[] Utf8Z(string s) => Encoding.UTF8.GetBytes(s + "\0");
}
