using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Json.Schema;
using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Routing.Tests.Fallback;
using ModelRouter.Runtime.Forge;
using ModelRouter.Tests.Shared;
using OpenAI;
using OpenAI.Chat;
using OutputFormat = ModelRouter.Protocol.OutputFormat;

namespace ModelRouter.Server.Tests;

/// <summary>
/// Structured output through both doors of a live server: OpenAI's response_format (json_schema through the official
/// SDK, json_object, text) and llama-server's grammar field on HTTP, the output format byte on the socket, on a
/// random-weight forged model whose output is JSON only because the grammar sampler allowed nothing else; bad schemas
/// and grammars are 400s (HTTP) and 300 invalid-argument (socket), and the server keeps serving.
/// </summary>
public sealed class StructuredOutputDoorTests
{
    private const string Forged = "f";

    // Bounded (strings by a bounded pattern, arrays with maxItems, no additional properties; not maxLength, whose count
    // llama.cpp's lenient UTF-8 decoding can disagree with for a random model's byte tokens: see the runtime tests): the grammar closes within a
    // few hundred characters, so with MaxTokens above that every answer must end with finish_reason "stop".
    private const string PersonSchema = """
        {"type":"object","properties":{
          "name":{"type":"string","pattern":"^[a-z0-9 ]{1,8}$"},
          "age":{"type":"integer","minimum":0,"maximum":120},
          "role":{"enum":["admin","user","guest"]},
          "tags":{"type":"array","items":{"type":"string","pattern":"^[a-z0-9 ]{0,5}$"},"minItems":1,"maxItems":3},
          "address":{"type":"object","properties":{"city":{"type":"string","pattern":"^[a-z0-9 ]{0,8}$"},"zip":{"type":"integer","minimum":1000,"maximum":9999}},
                     "required":["city","zip"],"additionalProperties":false}},
         "required":["name","age","role","tags","address"],"additionalProperties":false}
        """;

    private const int MaxTokens = 900;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_SDK_asks_for_a_json_schema_and_every_answer_validates_whole_and_streamed()
    {
        using var models = TestModels.Create(1);
        using var forged = ForgedModel();
        await using var server = await StartAsync(models, forged);
        var chat = Sdk(server).GetChatClient(Forged);
        var schema = JsonSchema.FromText(PersonSchema);
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = MaxTokens,
            Temperature = 1f,
            ResponseFormat = ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(PersonSchema), jsonSchemaIsStrict: true),
        };

        var answers = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage($"Describe person {i} as JSON.")], options, Cancel);
            Assert.Equal(ChatFinishReason.Stop, completion.FinishReason);
            answers.Add(completion.Content[0].Text);
        }

        var streamed = new StringBuilder();
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Stream a person.")], options, Cancel))
        {
            foreach (var part in update.ContentUpdate)
            {
                streamed.Append(part.Text);
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal(ChatFinishReason.Stop, finish);
        answers.Add(streamed.ToString());
        foreach (var answer in answers)
        {
            using var document = JsonDocument.Parse(answer);
            Assert.True(schema.Evaluate(document.RootElement).IsValid, $"does not validate: {answer}");
        }
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_grammar_field_and_json_object_constrain_completions_and_chats()
    {
        using var models = TestModels.Create(1);
        using var forged = ForgedModel();
        await using var server = await StartAsync(models, forged);
        using var http = Http(server);

        var body = $$"""{"model":"{{Forged}}","prompt":"Answer:","max_tokens":16,"temperature":1,"seed":3,"grammar":"root ::= (\"yes\" | \"no\") \"!\""}""";
        using var grammar = await PostAsync(http, "/v1/completions", body);
        Assert.Equal("stop", grammar.RootElement.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Matches("^(yes|no)!$", grammar.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());

        // Any object is unbounded (free strings, any keys): a random model may not close it within max_tokens, so only
        // an answer that stopped is required to parse; one cut by the limit must still begin as an object.
        body = $$$"""{"model":"{{{Forged}}}","messages":[{"role":"user","content":"JSON please"}],"max_tokens":64,"temperature":0,"response_format":{"type":"json_object"}}""";
        using var jsonObject = await PostAsync(http, "/v1/chat/completions", body);
        var choice = jsonObject.RootElement.GetProperty("choices")[0];
        var text = choice.GetProperty("message").GetProperty("content").GetString()!;
        Assert.StartsWith("{", text, StringComparison.Ordinal);
        if (choice.GetProperty("finish_reason").GetString() == "stop")
        {
            using var parsed = JsonDocument.Parse(text);
            Assert.Equal(JsonValueKind.Object, parsed.RootElement.ValueKind);
        }

        // "text" is free text, as if no response_format was given: the same greedy answer.
        var plain = $$"""{"model":"{{Forged}}","prompt":"Hello","max_tokens":8,"temperature":0}""";
        var asText = $$$"""{"model":"{{{Forged}}}","prompt":"Hello","max_tokens":8,"temperature":0,"response_format":{"type":"text"}}""";
        using var a = await PostAsync(http, "/v1/completions", plain);
        using var b = await PostAsync(http, "/v1/completions", asText);
        Assert.Equal(a.RootElement.GetProperty("choices")[0].GetProperty("text").GetString(), b.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Theory(Timeout = TestTimeouts.LiveServerMs)]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"$ref":"#/definitions/missing"}}}""", null, "cannot be converted")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"integer","minimum":"five"}}}""", null, "cannot be converted")]
    [InlineData("""{"type":"json_schema","json_schema":{"name":"x","schema":[1]}}""", null, "response_format.json_schema.schema")]
    [InlineData("""{"type":"json_schema"}""", null, "response_format.json_schema")]
    [InlineData("""{"type":"xml"}""", null, "response_format.type")]
    [InlineData(null, "\"root ::= undefined_rule\"", "grammar")]
    [InlineData(null, "\"root ::= root \\\"a\\\"\"", "grammar")]
    [InlineData(null, "42", "grammar must be a string")]
    [InlineData("""{"type":"json_object"}""", "\"root ::= \\\"a\\\"\"", "not both")]
    public async Task A_bad_schema_or_grammar_is_a_400_and_the_server_keeps_serving(string? responseFormat, string? grammar, string expected)
    {
        using var models = TestModels.Create(1);
        using var forged = ForgedModel();
        await using var server = await StartAsync(models, forged);
        using var http = Http(server);
        var extra = (responseFormat is null ? "" : $",\"response_format\":{responseFormat}") + (grammar is null ? "" : $",\"grammar\":{grammar}");
        var body = $$"""{"model":"{{Forged}}","messages":[{"role":"user","content":"hi"}],"max_tokens":4{{extra}}}""";

        using var response = await http.PostAsync("/v1/chat/completions", Json(body), Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        using var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        var message = error.RootElement.GetProperty("error").GetProperty("message").GetString()!;
        Assert.Contains(expected, message, StringComparison.Ordinal);
        Assert.Equal("invalid_request_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());

        using var ok = await PostAsync(http, "/v1/chat/completions", $$"""{"model":"{{Forged}}","messages":[{"role":"user","content":"hi"}],"max_tokens":4}""");
        Assert.Equal("chat.completion", ok.RootElement.GetProperty("object").GetString());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_socket_doors_output_format_constrains_generate_and_chat_and_refuses_a_bad_schema()
    {
        using var models = TestModels.Create(1);
        using var forged = ForgedModel();
        await using var server = await StartAsync(models, forged);
        await using var client = await server.ConnectAsync();
        var schema = JsonSchema.FromText(PersonSchema);

        for (ulong seed = 1; seed <= 3; seed++)
        {
            var result = await client.CompleteAsync(new GenerateRequest
            {
                Model = Forged, Prompt = "A person:", MaxTokens = MaxTokens, Temperature = 1f, Seed = seed,
                OutputFormat = OutputFormat.JsonSchema, OutputSpec = PersonSchema,
            }, Cancel);
            Assert.Equal(ModelRouter.Protocol.FinishReason.EndOfText, result.Stats.FinishReason);
            using var document = JsonDocument.Parse(result.Text);
            Assert.True(schema.Evaluate(document.RootElement).IsValid, $"seed {seed} does not validate: {result.Text}");
        }

        var chat = await client.CompleteChatAsync(new ChatGenerateRequest
        {
            Model = Forged, Messages = [new ChatRequestMessage("user", "Yes or no?")], MaxTokens = 16, Temperature = 1f, Seed = 5,
            OutputFormat = OutputFormat.Grammar, OutputSpec = "root ::= (\"yes\" | \"no\") \".\"",
        }, Cancel);
        Assert.Matches("^(yes|no)\\.$", chat.Text);

        var bad = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteAsync(new GenerateRequest
        {
            Model = Forged, Prompt = "x", MaxTokens = 4, OutputFormat = OutputFormat.JsonSchema, OutputSpec = """{"type":"nope"}""",
        }, Cancel));
        Assert.Equal(ErrorCode.InvalidArgument, bad.Code);
        Assert.Contains("unrecognized type nope", bad.Message, StringComparison.Ordinal);

        var grammar = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteAsync(new GenerateRequest
        {
            Model = Forged, Prompt = "x", MaxTokens = 4, OutputFormat = OutputFormat.Grammar, OutputSpec = "root ::= missing",
        }, Cancel));
        Assert.Equal(ErrorCode.InvalidArgument, grammar.Code);

        // Free text on the same connection still works.
        Assert.NotEmpty((await client.CompleteAsync(new GenerateRequest { Model = Forged, Prompt = "x", MaxTokens = 4, Temperature = 0 }, Cancel)).Text);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_routed_request_with_structured_output_skips_the_routes_remote_and_is_served_locally()
    {
        using var models = TestModels.Create(1);
        await using var upstream = new FakeUpstream(_ => UpstreamBehaviour.Ok);
        await using var server = await TestServer.StartAsync(models, residentModels: 1,
        [
            "--ModelRouter:Remotes:0:Name=remote-a",
            $"--ModelRouter:Remotes:0:Endpoint={upstream.Endpoint}",
            "--ModelRouter:Remotes:0:Model=fake-model",
            "--ModelRouter:Routes:0:Task=chat",
            "--ModelRouter:Routes:0:Models:0=m0",
            "--ModelRouter:Routes:0:Remotes:0=remote-a",
        ]);
        await using var client = await server.ConnectAsync();
        Assert.Equal("remote-a", (await client.CompleteAsync(new GenerateRequest { Prompt = "Once", MaxTokens = 4, Temperature = 0 }, Cancel)).Model);

        var result = await client.CompleteAsync(new GenerateRequest
        {
            Prompt = "Once", MaxTokens = 8, Temperature = 0, OutputFormat = OutputFormat.Grammar, OutputSpec = "root ::= \"ok\"",
        }, Cancel);

        Assert.Equal("m0", result.Model);
        Assert.Equal("ok", result.Text);
        Assert.Equal(1, upstream.Hits); // only the unconstrained request went to the remote
    }

    private static Task<JsonDocument> PostAsync(HttpClient http, string path, string body) => OpenAiDoor.PostAsync(http, path, body, Cancel);

    /// <summary>m0 (stories260K, for the fixture) and the forged model "f", with room for long structured answers.</summary>
    private static Task<TestServer> StartAsync(TestModels models, ForgedDoorModel forged) =>
        TestServer.StartAsync(models, residentModels: 2,
        [
            "--ModelRouter:Http=http://127.0.0.1:0",
            "--ModelRouter:Models:0:ChatTemplate=chatml",
            "--ModelRouter:Models:1:Name=" + Forged,
            "--ModelRouter:Models:1:Path=" + forged.Path,
            "--ModelRouter:Models:1:ChatTemplate=chatml",
            "--ModelRouter:DeviceBudgetBytes=1073741824",
            "--ModelRouter:Scheduler:ContextPerSequence=1024",
        ]);

    private static OpenAIClient Sdk(TestServer server) => OpenAiDoor.Sdk(server);

    private static HttpClient Http(TestServer server) => OpenAiDoor.Http(server);

    private static StringContent Json(string json) => OpenAiDoor.Json(json);

    /// <summary>A tiny Llama with random weights and llama.cpp's SentencePiece vocabulary, in a temp folder.</summary>
    private static ForgedDoorModel ForgedModel() => new(seed: 21, cancellation: Cancel);
}
