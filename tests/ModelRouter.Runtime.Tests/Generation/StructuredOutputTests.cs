using System.Text;
using System.Text.Json;
using Json.Schema;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Generation;
using ModelRouter.Runtime.Inference;
using ModelRouter.Runtime.Models;
using ModelRouter.Runtime.Tests.Gguf;

namespace ModelRouter.Runtime.Tests.Generation;

/// <summary>
/// Structured output: schemas through llama.cpp's own converter (libmr_common), grammars through its grammar sampler.
/// The generation tests use a random-weight forged model, whose preferences carry no JSON at all: whatever parses and
/// validates does so because the grammar ruled every sampled token.
/// </summary>
public sealed class StructuredOutputTests
{
    // Every schema bounds its output (strings by a bounded pattern, arrays with maxItems, no additional properties), so
    // the grammar reaches its end within a bounded number of characters and the sampler must then emit end-of-generation:
    // with MaxTokens above that bound, each sequence ends with FinishReason.EndOfGeneration or the test fails.
    // Strings are bounded with a pattern, not maxLength: llama.cpp's grammar decodes UTF-8 leniently (a lead byte F8-FF
    // starts a "4-byte character"), so a random model picking byte tokens can put ill-formed UTF-8 inside a free string
    // that the grammar counts as one character and a validator as four replacement characters (seen with seed 20).
    public static TheoryData<string, string> Schemas => new()
    {
        {
            "nested objects, optional property",
            """
            {"type":"object","properties":{
              "name":{"type":"string","pattern":"^[a-z0-9 ]{1,8}$"},
              "nickname":{"type":"string","pattern":"^[a-z0-9 ]{0,4}$"},
              "address":{"type":"object","properties":{
                "city":{"type":"string","pattern":"^[a-z0-9 ]{0,8}$"},
                "zip":{"type":"integer","minimum":10000,"maximum":99999}},
                "required":["city","zip"],"additionalProperties":false}},
             "required":["name","address"],"additionalProperties":false}
            """
        },
        {
            "array with min and max items",
            """
            {"type":"object","properties":{
              "tags":{"type":"array","items":{"type":"string","pattern":"^[a-z0-9 ]{0,6}$"},"minItems":2,"maxItems":3}},
             "required":["tags"],"additionalProperties":false}
            """
        },
        {
            "enum, const and boolean",
            """
            {"type":"object","properties":{
              "color":{"enum":["red","green","blue"]},
              "kind":{"const":"paint"},
              "ok":{"type":"boolean"}},
             "required":["color","kind","ok"],"additionalProperties":false}
            """
        },
        {
            "bounded integers and a number",
            """
            {"type":"object","properties":{
              "age":{"type":"integer","minimum":0,"maximum":150},
              "delta":{"type":"integer","exclusiveMinimum":-10,"exclusiveMaximum":10},
              "score":{"type":"number"}},
             "required":["age","delta","score"],"additionalProperties":false}
            """
        },
        {
            "array of objects at the top",
            """
            {"type":"array","items":{"type":"object","properties":{
              "id":{"type":"integer","minimum":1,"maximum":9},
              "done":{"type":"boolean"}},
              "required":["id","done"],"additionalProperties":false},
             "minItems":1,"maxItems":3}
            """
        },
    };

    [Fact]
    public void A_json_schema_becomes_llama_cpps_grammar_with_a_root_rule()
    {
        var output = StructuredOutput.FromJsonSchema("""{"type":"object","properties":{"a":{"type":"integer"}},"required":["a"]}""");

        Assert.Equal(StructuredOutputKind.JsonSchema, output.Kind);
        Assert.Contains("root ::=", output.Grammar, StringComparison.Ordinal);
        Assert.Contains("\"\\\"a\\\"\"", output.Grammar, StringComparison.Ordinal); // the key as a GBNF literal
    }

    [Fact]
    public void Json_object_and_an_empty_schema_both_mean_any_object()
    {
        var any = StructuredOutput.JsonObject();
        var empty = StructuredOutput.FromJsonSchema("{}");

        Assert.Equal(StructuredOutputKind.JsonObject, any.Kind);
        Assert.Equal(any.Grammar, empty.Grammar);
        Assert.Contains("root ::= object", any.Grammar, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"$ref":"#/definitions/missing"}""")]
    [InlineData("""{"type":"integer","minimum":"five"}""")]
    [InlineData("""{"type":"string","pattern":"^(a$"}""")] // not a regex (an unsupported but valid one falls back to any string)
    [InlineData("""{"type":"nope"}""")]
    public void A_schema_the_converter_rejects_is_a_StructuredOutputException_with_its_reason(string schema)
    {
        var ex = Assert.Throws<StructuredOutputException>(() => StructuredOutput.FromJsonSchema(schema));

        Assert.StartsWith("the JSON schema cannot be converted to a grammar: ", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length > "the JSON schema cannot be converted to a grammar: ".Length + 5, ex.Message);
    }

    [Theory]
    [InlineData("{\"type\":")]
    [InlineData("[1, 2]")]
    [InlineData("\"string\"")]
    public void Text_that_is_not_a_schema_object_is_refused_before_the_converter(string schema)
    {
        var ex = Assert.Throws<StructuredOutputException>(() => StructuredOutput.FromJsonSchema(schema));

        Assert.Contains("JSON", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("root ::= foo")] // undefined rule
    [InlineData("start ::= \"a\"")] // no root
    [InlineData("root ::= root \"a\"")] // left recursion
    [InlineData("root ::= \"unterminated")]
    [InlineData("root ::= <hello>")] // a token literal by text needs a vocabulary: refused up front
    public void An_invalid_grammar_is_a_StructuredOutputException_and_the_process_carries_on(string grammar)
    {
        var ex = Assert.Throws<StructuredOutputException>(() => StructuredOutput.FromGrammar(grammar));

        Assert.StartsWith("the grammar is not valid GBNF (llama.cpp: ", ex.Message, StringComparison.Ordinal); // its logged reason

        Assert.Equal(StructuredOutputKind.Grammar, StructuredOutput.FromGrammar("root ::= \"yes\" | \"no\"").Kind);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" \n\t")]
    public void An_empty_grammar_is_refused_without_asking_llama_cpp(string grammar)
    {
        var ex = Assert.Throws<StructuredOutputException>(() => StructuredOutput.FromGrammar(grammar));

        Assert.Equal("the grammar is empty", ex.Message);
    }

    [Fact]
    public void Oversized_schema_text_is_refused_by_size()
    {
        var huge = "{\"description\":\"" + new string('x', StructuredOutput.MaxSourceBytes) + "\"}";

        var ex = Assert.Throws<StructuredOutputException>(() => StructuredOutput.FromJsonSchema(huge));

        Assert.Contains("at most", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_raw_grammar_rules_every_token_of_a_random_weight_model()
    {
        using var dir = new TempDirectory("mr-grammar-");
        using var model = Model.Load(ForgeRandomModel(dir));
        var grammar = StructuredOutput.FromGrammar("""root ::= ("yes" | "no") " " [0-9] [0-9]? "!" """);

        var outputs = Generate(model, grammar.Grammar, seeds: 8, maxTokens: 16);

        foreach (var (seed, text, finish) in outputs)
        {
            Assert.True(FinishReason.EndOfGeneration == finish, $"seed {seed}: finished with {finish} after '{text}'");
            Assert.Matches("^(yes|no) [0-9][0-9]?!$", text);
        }
    }

    [Theory]
    [MemberData(nameof(Schemas))]
    public void Output_of_a_random_weight_model_under_a_schema_parses_and_validates_for_every_seed(string name, string schemaJson)
    {
        using var dir = new TempDirectory("mr-schema-");
        using var model = Model.Load(ForgeRandomModel(dir));
        var output = StructuredOutput.FromJsonSchema(schemaJson);
        var schema = JsonSchema.FromText(schemaJson);

        var outputs = Generate(model, output.Grammar, seeds: 20, maxTokens: MaxTokens);

        Assert.Equal(20, outputs.Count);
        foreach (var (seed, text, finish) in outputs)
        {
            // Not MaxTokens: the bounded grammar closed and only end-of-generation was left to sample.
            Assert.True(FinishReason.EndOfGeneration == finish, $"{name}, seed {seed}: finished with {finish} after {text.Length} chars: {text}");
            using var document = JsonDocument.Parse(text);
            var result = schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
            Assert.True(result.IsValid, $"{name}, seed {seed}: {text} does not validate: {Describe(result)}");
        }

        // Different seeds explore the schema: a random model under a grammar is not stuck on one answer.
        Assert.True(outputs.Select(o => o.Text).Distinct().Count() > 1, $"{name}: every seed gave the same text");
    }

    // The longest bounded output above is a few hundred characters (each string ≤ 8 characters, each "space" ≤ 23
    // characters); every token is at least one character, so this cannot cut a sequence.
    private const int MaxTokens = 900;

    /// <summary>Runs seeds 1..<paramref name="seeds"/> four at a time through one batched context.</summary>
    private static List<(uint Seed, string Text, FinishReason Finish)> Generate(Model model, string grammar, int seeds, int maxTokens)
    {
        const int parallel = 4;
        using var context = InferenceContext.Create(model, new ContextOptions { ContextLength = parallel * (maxTokens + 64), BatchSize = 256, MaxSequences = parallel, Threads = 2 });
        using var generator = new BatchedGenerator(context);
        var results = new List<(uint, string, FinishReason)>();
        for (uint first = 1; first <= seeds; first += parallel)
        {
            var batch = new List<(uint Seed, GenerationSequence Sequence, StringBuilder Text)>();
            for (var seed = first; seed < first + parallel && seed <= seeds; seed++)
            {
                var request = new GenerationRequest("Answer in JSON:")
                {
                    MaxTokens = maxTokens,
                    Sampling = new SamplingParameters { Temperature = 1f, TopK = 0, TopP = 1f, MinP = 0f, Seed = seed, Grammar = grammar },
                };
                batch.Add((seed, generator.Start(request, TestContext.Current.CancellationToken), new StringBuilder()));
            }

            while (generator.ActiveCount > 0)
            {
                generator.Step();
                foreach (var (_, sequence, text) in batch)
                {
                    text.Append(Encoding.UTF8.GetString(sequence.NewText));
                }
            }

            results.AddRange(batch.Select(b => (b.Seed, b.Text.ToString(), b.Sequence.FinishReason!.Value)));
        }

        return results;
    }

    /// <summary>A tiny Llama with random weights and llama.cpp's SentencePiece vocabulary (32,000 tokens).</summary>
    internal static string ForgeRandomModel(TempDirectory dir)
    {
        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(ForgeArchitecture.Llama));
        var shape = ForgePresets.TryGet("tiny", out var tiny) ? tiny : throw new InvalidOperationException("no tiny preset");
        var path = dir.File("random.gguf");
        ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q8_0) { VocabPath = vocab, Seed = 20 }, path, cancellationToken: TestContext.Current.CancellationToken);
        return path;
    }

    private static string Describe(EvaluationResults result) =>
        string.Join("; ", (result.Details ?? []).Where(d => d.Errors is { Count: > 0 }).SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}")));
}
