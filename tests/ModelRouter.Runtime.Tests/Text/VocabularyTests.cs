using System.Text;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Tests.Gguf;
using ModelRouter.Runtime.Text;

namespace ModelRouter.Runtime.Tests.Text;

public sealed class VocabularyTests
{
    [Fact]
    public void Too_small_destination_reports_the_needed_size_and_writes_nothing_past_it()
    {
        using var model = Model.Load(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"), new ModelLoadOptions { VocabOnly = true });
        var text = "Hello world, this sentence has a dozen or more tokens in it."u8;

        Span<int> tiny = stackalloc int[3];
        Assert.False(model.Vocabulary.TryTokenize(text, tiny, out var needed));
        Assert.True(needed > 3);

        var exact = new int[needed];
        Assert.True(model.Vocabulary.TryTokenize(text, exact, out var written));
        Assert.Equal(needed, written);
    }

    [Fact]
    public void Utf16_and_utf8_inputs_give_the_same_tokens_and_round_trip()
    {
        using var model = Model.Load(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"), new ModelLoadOptions { VocabOnly = true });
        const string text = "Grüße, 世界! Emoji 🦙 and tabs\tand newlines\n.";
        var fromUtf16 = new int[128];
        var fromUtf8 = new int[128];

        Assert.True(model.Vocabulary.TryTokenize(text.AsSpan(), fromUtf16, out var n16));
        Assert.True(model.Vocabulary.TryTokenize(Encoding.UTF8.GetBytes(text), fromUtf8, out var n8));
        Assert.Equal(fromUtf8.AsSpan(0, n8).ToArray(), fromUtf16.AsSpan(0, n16).ToArray());
        Assert.Equal(text, model.Vocabulary.Detokenize(fromUtf16.AsSpan(0, n16)));
    }

    [Fact]
    public void Long_utf16_input_uses_the_pooled_path_and_matches()
    {
        using var model = Model.Load(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"), new ModelLoadOptions { VocabOnly = true });
        var text = string.Concat(Enumerable.Repeat("The quick brown fox jumps over the lazy dog. ", 40));
        var tokens = new int[1024];

        Assert.True(model.Vocabulary.TryTokenize(text.AsSpan(), tokens, out var count));
        Assert.Equal(text, model.Vocabulary.Detokenize(tokens.AsSpan(0, count)));
    }

    [Fact]
    public void Add_special_prepends_bos_and_parse_special_recognises_control_tokens()
    {
        using var model = Model.Load(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"), new ModelLoadOptions { VocabOnly = true });
        var vocabulary = model.Vocabulary;

        var plain = vocabulary.Tokenize("<|eot_id|>");
        var withBos = vocabulary.Tokenize("<|eot_id|>", TokenizeOptions.AddSpecial);
        var parsed = vocabulary.Tokenize("<|eot_id|>", TokenizeOptions.ParseSpecial);

        Assert.True(vocabulary.AddsBeginningOfSequence);
        Assert.Equal(vocabulary.BeginningOfSequence, withBos[0]);
        Assert.Equal(plain, withBos[1..]);
        Assert.True(plain.Length > 1); // spelled out as text
        Assert.Equal([vocabulary.EndOfTurn], parsed);
        Assert.True(vocabulary.IsEndOfGeneration(parsed[0]));
    }

    [Fact]
    public void Invalid_utf8_and_lone_surrogates_are_rejected_with_their_position()
    {
        using var model = Model.Load(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"), new ModelLoadOptions { VocabOnly = true });
        var tokens = new int[64];

        var utf8 = Assert.Throws<ArgumentException>(() => model.Vocabulary.TryTokenize([0x61, 0x62, 0xC3, 0x28], tokens, out _));
        Assert.Contains("byte 2", utf8.Message, StringComparison.Ordinal);

        var utf16 = Assert.Throws<ArgumentException>(() => model.Vocabulary.TryTokenize("ab\uD800c".AsSpan(), tokens, out _));
        Assert.Contains("surrogate", utf16.Message, StringComparison.Ordinal);

        // The vocabulary still works afterwards.
        Assert.True(model.Vocabulary.TryTokenize("ok"u8, tokens, out var n));
        Assert.True(n > 0);
    }

    [Fact]
    public void Pieces_report_the_needed_size()
    {
        using var model = Model.Load(GgufTestFiles.RequireVocab("ggml-vocab-llama-bpe.gguf"), new ModelLoadOptions { VocabOnly = true });
        var token = model.Vocabulary.Tokenize(" extraordinary")[0];

        Span<byte> one = stackalloc byte[1];
        Assert.False(model.Vocabulary.TryGetPiece(token, one, out var needed));
        Span<byte> enough = stackalloc byte[needed];
        Assert.True(model.Vocabulary.TryGetPiece(token, enough, out var written));
        Assert.Equal(needed, written);
    }
}
