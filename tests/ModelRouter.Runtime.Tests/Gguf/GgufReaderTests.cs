using System.Runtime.InteropServices;
using ModelRouter.Interop;
using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Tests.Gguf;

public sealed class GgufReaderTests
{
    [Fact]
    public void Stories260K_header_metadata_and_tensor_index_are_read()
    {
        var path = GgufTestFiles.RequireSharedModel("stories260K.gguf");
        using var file = GgufFile.Open(path);

        Assert.Equal(3u, file.Version);
        Assert.Equal(32, file.Alignment);
        Assert.Equal("llama", file.GetString("general.architecture"));
        Assert.Equal(64u, file.GetUInt32("llama.embedding_length"));
        Assert.Equal(5u, file.GetUInt32("llama.block_count"));
        Assert.Equal(8u, file.GetUInt32("llama.attention.head_count"));
        Assert.Equal(1e-5f, file.GetFloat32("llama.attention.layer_norm_rms_epsilon"), 1e-9f);
        Assert.Equal(uint.MaxValue, file.GetUInt32("tokenizer.ggml.padding_token_id"));

        var tokens = file.GetArray("tokenizer.ggml.tokens");
        Assert.Equal(512, tokens.Count);
        var strings = tokens.ToStringArray();
        Assert.Equal(["<unk>", "<s>", "</s>"], strings[..3]);
        var scores = file.GetArray("tokenizer.ggml.scores").AsSpan<float>();
        Assert.Equal(512, scores.Length);
        Assert.Equal(512, file.GetArray("tokenizer.ggml.token_type").AsSpan<int>().Length);

        Assert.Equal(48, file.Tensors.Count);
        Assert.True(file.TryGetTensor("token_embd.weight", out var embd));
        Assert.Equal([64L, 512L], embd.Dimensions.ToArray());
        Assert.Equal(GgmlType.F32, embd.Type);
        Assert.Equal(64L * 512 * 4, embd.ByteSize);
        Assert.Equal(file.DataOffset, embd.AbsoluteOffset);
        Assert.Equal(0, file.DataOffset % file.Alignment);

        var last = file.Tensors.MaxBy(t => t.AbsoluteEnd)!;
        Assert.True(last.AbsoluteEnd <= file.FileLength);

        // The data span is a view of the mapping: its values are the weights, finite and not all zero.
        var weights = MemoryMarshal.Cast<byte, float>(file.GetTensorData(embd));
        Assert.Equal(64 * 512, weights.Length);
        Assert.All(weights.ToArray(), w => Assert.True(float.IsFinite(w)));
        Assert.Contains(weights.ToArray(), w => w != 0);
        GgufValidator.CheckLlamaCppRules(file);
    }

    [Fact]
    public void Every_pinned_vocabulary_file_is_read_and_valid_for_llama_cpp()
    {
        var files = GgufTestFiles.RequireAllVocabs();
        foreach (var path in files)
        {
            GgufValidator.Validate(path);
            using var file = GgufFile.Open(path);
            var tokens = file.GetArray("tokenizer.ggml.tokens");
            var counted = 0L;
            foreach (var token in tokens.EnumerateStrings())
            {
                counted++;
            }

            Assert.Equal(tokens.Count, counted);
            Assert.Empty(file.Tensors);
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"{files.Length} vocabulary files read and validated");
    }

    [Fact]
    public void Llama_bpe_vocabulary_has_the_llama3_tokenizer()
    {
        using var file = GgufFile.Open(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"));

        Assert.Equal("gpt2", file.GetString("tokenizer.ggml.model"));
        Assert.Equal("llama-bpe", file.GetString("tokenizer.ggml.pre"));
        Assert.Equal(128256, file.GetArray("tokenizer.ggml.tokens").Count);
        Assert.Equal(280147, file.GetArray("tokenizer.ggml.merges").Count);
        Assert.Equal(128000u, file.GetUInt32("tokenizer.ggml.bos_token_id"));
        Assert.True(file.TryGetValue<uint>("llama.vocab_size", out var vocabSize));
        Assert.Equal(128256u, vocabSize);
        Assert.False(file.TryGetString("no.such.key", out _));
    }

    [Fact]
    public void Wrong_metadata_type_and_missing_keys_name_the_file_and_key()
    {
        using var file = GgufFile.Open(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"));

        var wrongType = Assert.Throws<InvalidModelFileException>(() => file.GetString("llama.block_count"));
        Assert.Contains("llama.block_count", wrongType.Message, StringComparison.Ordinal);
        Assert.Equal(file.FilePath, wrongType.FilePath);

        var missing = Assert.Throws<InvalidModelFileException>(() => file.GetUInt32("llama.nope"));
        Assert.Contains("'llama.nope' is missing", missing.Problem, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => file.GetArray("tokenizer.ggml.tokens").AsSpan<int>());
    }

    [Fact]
    public void Disposed_file_refuses_access()
    {
        var file = GgufFile.Open(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"));
        var tokens = file.GetArray("tokenizer.ggml.tokens");
        file.Dispose();
        file.Dispose();

        Assert.Throws<ObjectDisposedException>(() => tokens.ToStringArray());
        Assert.Throws<ObjectDisposedException>(() => file.GetString("general.name"));
    }

    [Fact]
    public void Type_table_matches_the_native_ggml()
    {
        try
        {
            NativeLibraryLoader.EnsureLoaded();
        }
        catch (NativeLibraryLoadException ex)
        {
            Assert.Skip("Native libraries are not built (./build.sh native): " + ex.Message);
        }

        var checkedTypes = 0;
        for (var id = 0; id < (int)ggml_type.GGML_TYPE_COUNT; id++)
        {
            var nativeBlock = Ggml.ggml_blck_size((ggml_type)id);
            if (GgmlTypeTraits.TryGet((uint)id, out var info))
            {
                Assert.Equal(nativeBlock, info.BlockSize);
                Assert.Equal((ulong)Ggml.ggml_type_size((ggml_type)id), (ulong)info.TypeSize);
                checkedTypes++;
            }
            else
            {
                Assert.Equal(0, nativeBlock);
            }
        }

        Assert.Equal(GgmlTypeTraits.All.Count(), checkedTypes);
    }
}
