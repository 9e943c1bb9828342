using System.Globalization;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Tests.Gguf;
using ModelRouter.Runtime.Text;

namespace ModelRouter.Runtime.Tests.Text;

/// <summary>
/// llama.cpp's own tokenizer test vectors (models/ggml-vocab-*.gguf with .inp/.out, as tests/test-tokenizer-0
/// reads them): every vocabulary that has them, every case, through our zero-allocation API.
/// </summary>
public sealed class TokenizerVectorTests
{
    private const string CaseSeparator = "\n__ggml_vocab_test__\n";

    [Fact]
    public void Every_reference_vocabulary_reproduces_every_case()
    {
        var vocabularies = 0;
        var cases = 0;
        var failures = new List<string>();
        foreach (var path in GgufTestFiles.RequireAllVocabs())
        {
            if (!File.Exists(path + ".inp") || !File.Exists(path + ".out"))
            {
                continue;
            }

            var inputs = File.ReadAllText(path + ".inp").Split(CaseSeparator);
            var outputs = File.ReadAllText(path + ".out").Split('\n');
            using var model = Model.Load(path, new ModelLoadOptions { VocabOnly = true });
            var tokens = new int[8192];
            for (var i = 0; i < inputs.Length; i++)
            {
                if (i == inputs.Length - 1 && inputs[i].Length == 0)
                {
                    break; // the file ends with a separator
                }

                var expected = outputs[i].Split(' ', StringSplitOptions.RemoveEmptyEntries)
                    .Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray();
                Assert.True(model.Vocabulary.TryTokenize(inputs[i].AsSpan(), tokens, out var count));
                if (!expected.AsSpan().SequenceEqual(tokens.AsSpan(0, count)))
                {
                    failures.Add($"{Path.GetFileName(path)} case {i} '{inputs[i]}': expected [{string.Join(' ', expected)}], got [{string.Join(' ', tokens.Take(count))}]");
                }

                cases++;
            }

            vocabularies++;
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"tokenizer vectors: {vocabularies} vocabularies, {cases} cases, {failures.Count} failures");
        Assert.True(vocabularies >= 10, $"only {vocabularies} vocabularies with .inp/.out found");
        Assert.Empty(failures);
    }
}
