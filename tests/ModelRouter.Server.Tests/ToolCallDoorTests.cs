using System.Net;
using System.Text;
using System.Text.Json;
using Json.Schema;
using ModelRouter.Tests.Shared;
using OpenAI;
using OpenAI.Chat;

namespace ModelRouter.Server.Tests;

/// <summary>
/// Tool calls through the HTTP door of a live server, spoken by the official OpenAI SDK and by raw JSON: a random-weight
/// forged model that carries Qwen 2.5's real chat template (llama.cpp's models/templates) is offered tools; with
/// tool_choice naming a function, llama.cpp's grammar for that template's tool-call format is all that stands between
/// random weights and the answer, so every call must come back in OpenAI's shape with arguments that validate against
/// the function's parameters, whole and streamed. Bad tool requests are 400s and the server keeps serving.
/// </summary>
public sealed class ToolCallDoorTests
{
    private const string Forged = "f";

    // Bounded like the structured-output tests' schema: a random model closes it within a few hundred characters.
    private const string WeatherParameters = """
        {"type":"object","properties":{
          "city":{"type":"string","pattern":"^[a-z]{1,8}$"},
          "days":{"type":"integer","minimum":1,"maximum":14},
          "unit":{"enum":["celsius","fahrenheit"]}},
         "required":["city","days","unit"],"additionalProperties":false}
        """;

    private const string Tools =
        """[{"type":"function","function":{"name":"get_weather","description":"Weather forecast","parameters":""" + WeatherParameters + """}},"""
        + """ {"type":"function","function":{"name":"get_time","description":"Current time","parameters":{"type":"object","properties":{"zone":{"enum":["utc","cet"]}},"required":["zone"]}}}]""";

    private const int MaxTokens = 600;

    private static readonly string[] FunctionNames = ["get_weather", "get_time"];
    private static readonly string[] TextEndings = ["stop", "length"];

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_SDK_names_a_function_and_gets_tool_calls_whose_arguments_validate_whole_and_streamed()
    {
        using var models = TestModels.Create(1);
        using var forged = QwenTemplatedModel();
        await using var server = await StartAsync(models, forged);
        var chat = Sdk(server).GetChatClient(Forged);
        var schema = JsonSchema.FromText(WeatherParameters);
        var options = new ChatCompletionOptions
        {
            MaxOutputTokenCount = MaxTokens,
            Temperature = 1f,
            Tools =
            {
                ChatTool.CreateFunctionTool("get_weather", "Weather forecast", BinaryData.FromString(WeatherParameters)),
                ChatTool.CreateFunctionTool("get_time", "Current time", BinaryData.FromString("""{"type":"object","properties":{"zone":{"enum":["utc","cet"]}},"required":["zone"]}""")),
            },
            ToolChoice = ChatToolChoice.CreateFunctionChoice("get_weather"),
        };

        for (var i = 0; i < 3; i++)
        {
#pragma warning disable OPENAI001 // Seed is "for evaluation": the answers must differ, and be reproducible
            options.Seed = 100 + i;
#pragma warning restore OPENAI001
            ChatCompletion completion = await chat.CompleteChatAsync([new UserChatMessage($"What is the weather in city {i}?")], options, Cancel);
            Assert.Equal(ChatFinishReason.ToolCalls, completion.FinishReason);
            var call = Assert.Single(completion.ToolCalls);
            Assert.Equal("get_weather", call.FunctionName);
            Assert.StartsWith("call_", call.Id, StringComparison.Ordinal);
            using var arguments = JsonDocument.Parse(call.FunctionArguments.ToString());
            Assert.True(schema.Evaluate(arguments.RootElement).IsValid, $"seed {100 + i}: arguments do not validate: {call.FunctionArguments}");
        }

#pragma warning disable OPENAI001
        options.Seed = 7;
#pragma warning restore OPENAI001
        var streamedArguments = new StringBuilder();
        string? name = null;
        string? id = null;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Stream the weather call.")], options, Cancel))
        {
            foreach (var piece in update.ToolCallUpdates)
            {
                Assert.Equal(0, piece.Index);
                name ??= piece.FunctionName;
                id ??= piece.ToolCallId;
                streamedArguments.Append(piece.FunctionArgumentsUpdate?.ToString());
            }

            finish ??= update.FinishReason;
        }

        Assert.Equal(ChatFinishReason.ToolCalls, finish);
        Assert.Equal("get_weather", name);
        Assert.StartsWith("call_", id, StringComparison.Ordinal);
        using var streamed = JsonDocument.Parse(streamedArguments.ToString());
        Assert.True(schema.Evaluate(streamed.RootElement).IsValid, $"streamed arguments do not validate: {streamedArguments}");
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Raw_json_gets_OpenAIs_shape_and_a_tool_result_goes_back_into_the_conversation()
    {
        using var models = TestModels.Create(1);
        using var forged = QwenTemplatedModel();
        await using var server = await StartAsync(models, forged);
        using var http = Http(server);

        var body = $$"""
            {"model":"{{Forged}}","messages":[{"role":"user","content":"Time in UTC?"}],"max_tokens":{{MaxTokens}},"temperature":1,"seed":3,
             "tools":{{Tools}},"tool_choice":"required"}
            """;
        using var answer = await PostAsync(http, body);
        var choice = answer.RootElement.GetProperty("choices")[0];
        Assert.True("tool_calls" == choice.GetProperty("finish_reason").GetString(), answer.RootElement.GetRawText());
        var message = choice.GetProperty("message");
        Assert.Equal(JsonValueKind.Null, message.GetProperty("content").ValueKind);
        var call = message.GetProperty("tool_calls")[0];
        Assert.Equal("function", call.GetProperty("type").GetString());
        var function = call.GetProperty("function");
        Assert.Contains(function.GetProperty("name").GetString(), FunctionNames);
        using (JsonDocument.Parse(function.GetProperty("arguments").GetString()!))
        {
            // "required": one of the offered functions, with JSON arguments
        }

        // The agent's next turn: its call and the tool's result rendered by the template, an answer in text.
        var callId = call.GetProperty("id").GetString();
        var next = $$"""
            {"model":"{{Forged}}","max_tokens":8,"temperature":0,"tools":{{Tools}},"tool_choice":"none",
             "messages":[{"role":"user","content":"Time in UTC?"},
                         {"role":"assistant","content":null,"tool_calls":[{{call.GetRawText()}}]},
                         {"role":"tool","tool_call_id":"{{callId}}","content":"12:00"}]}
            """;
        using var followUp = await PostAsync(http, next);
        var second = followUp.RootElement.GetProperty("choices")[0];
        Assert.False(second.GetProperty("message").TryGetProperty("tool_calls", out _));
        Assert.Equal(JsonValueKind.String, second.GetProperty("message").GetProperty("content").ValueKind);
        Assert.True(followUp.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 0);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Auto_lets_a_model_that_does_not_call_answer_in_text()
    {
        using var models = TestModels.Create(1);
        using var forged = QwenTemplatedModel();
        await using var server = await StartAsync(models, forged);
        using var http = Http(server);

        var body = $$"""{"model":"{{Forged}}","messages":[{"role":"user","content":"Hi"}],"max_tokens":12,"temperature":0,"tools":{{Tools}}}""";
        using var answer = await PostAsync(http, body);
        var choice = answer.RootElement.GetProperty("choices")[0];
        if (choice.GetProperty("message").TryGetProperty("tool_calls", out var calls))
        {
            Assert.Equal("tool_calls", choice.GetProperty("finish_reason").GetString()); // a random model may still call
            Assert.True(calls.GetArrayLength() > 0);
        }
        else
        {
            Assert.Equal(JsonValueKind.String, choice.GetProperty("message").GetProperty("content").ValueKind);
            Assert.Contains(choice.GetProperty("finish_reason").GetString(), TextEndings);
        }
    }

    [Theory(Timeout = TestTimeouts.LiveServerMs)]
    [InlineData(Forged, ""","tools":TOOLS,"tool_choice":{"type":"function","function":{"name":"nope"}}""", "not among the tools")]
    [InlineData(Forged, ""","tools":TOOLS,"response_format":{"type":"json_object"}""", "cannot be combined")]
    [InlineData(Forged, ""","tools":[{"type":"function","function":{"name":"bad name"}}]""", "letters, digits")]
    [InlineData(Forged, ""","tools":[{"type":"retrieval"}]""", "tools[0]")]
    [InlineData(Forged, ",\"tools\":TOOLS,\"tool_choice\":\"sometimes\"", "tool_choice")]
    [InlineData(Forged, ",\"tool_choice\":\"required\"", "needs tools")]
    [InlineData("m0", ""","tools":TOOLS""", "Jinja chat layer")]
    public async Task A_bad_tool_request_is_a_400_and_the_server_keeps_serving(string model, string extra, string expected)
    {
        using var models = TestModels.Create(1);
        using var forged = QwenTemplatedModel();
        await using var server = await StartAsync(models, forged);
        using var http = Http(server);
        var body = $$"""{"model":"{{model}}","messages":[{"role":"user","content":"hi"}],"max_tokens":4{{extra.Replace("TOOLS", Tools, StringComparison.Ordinal)}}}""";

        using var response = await http.PostAsync("/v1/chat/completions", Json(body), Cancel);

        var text = await response.Content.ReadAsStringAsync(Cancel);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {text}");
        using var error = JsonDocument.Parse(text);
        Assert.Contains(expected, error.RootElement.GetProperty("error").GetProperty("message").GetString()!, StringComparison.Ordinal);

        using var ok = await PostAsync(http, $$"""{"model":"{{Forged}}","messages":[{"role":"user","content":"hi"}],"max_tokens":4}""");
        Assert.Equal("chat.completion", ok.RootElement.GetProperty("object").GetString());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_client_that_vanishes_mid_call_leaves_the_server_serving_tool_calls()
    {
        using var models = TestModels.Create(1);
        using var forged = QwenTemplatedModel();
        await using var server = await StartAsync(models, forged);
        using var http = Http(server);
        var body = $$$$"""
            {"model":"{{{{Forged}}}}","messages":[{"role":"user","content":"Weather?"}],"max_tokens":{{{{MaxTokens}}}},"temperature":1,"seed":9,
             "stream":true,"tools":{{{{Tools}}}},"tool_choice":{"type":"function","function":{"name":"get_weather"}}}
            """;
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = Json(body) })
        using (var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            await using var stream = await response.Content.ReadAsStreamAsync(Cancel);
            var first = new byte[64];
            Assert.True(await stream.ReadAsync(first, Cancel) > 0); // the stream started; then the client is gone
        }

        using var answer = await PostAsync(http, body.Replace("\"stream\":true,", "", StringComparison.Ordinal));
        var call = answer.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("tool_calls")[0];
        Assert.Equal("get_weather", call.GetProperty("function").GetProperty("name").GetString());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task With_tool_choice_none_a_grammar_still_rules_the_text()
    {
        using var models = TestModels.Create(1);
        using var forged = QwenTemplatedModel();
        await using var server = await StartAsync(models, forged);
        using var http = Http(server);
        var grammar = JsonSerializer.Serialize("root ::= (\"yes\" | \"no\") \"!\"");
        var body = "{\"model\":\"" + Forged + "\",\"messages\":[{\"role\":\"user\",\"content\":\"Sunny?\"}],\"max_tokens\":16,\"temperature\":1,\"seed\":4,"
            + "\"tools\":" + Tools + ",\"tool_choice\":\"none\",\"grammar\":" + grammar + "}";
        using var answer = await PostAsync(http, body);
        var choice = answer.RootElement.GetProperty("choices")[0];
        Assert.Matches("^(yes|no)!$", choice.GetProperty("message").GetProperty("content").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_tool_message_without_its_call_id_is_a_400()
    {
        using var models = TestModels.Create(1);
        using var forged = QwenTemplatedModel();
        await using var server = await StartAsync(models, forged);
        using var http = Http(server);
        var body = $$"""{"model":"{{Forged}}","max_tokens":4,"messages":[{"role":"user","content":"hi"},{"role":"tool","content":"42"}]}""";
        using var response = await http.PostAsync("/v1/chat/completions", Json(body), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("tool_call_id", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    private static Task<JsonDocument> PostAsync(HttpClient http, string body) => OpenAiDoor.PostAsync(http, "/v1/chat/completions", body, Cancel);

    /// <summary>m0 (stories260K with the built-in chatml renderer) and the forged model "f" with its own Jinja template.</summary>
    private static Task<TestServer> StartAsync(TestModels models, ForgedDoorModel forged) =>
        TestServer.StartAsync(models, residentModels: 2,
        [
            "--ModelRouter:Http=http://127.0.0.1:0",
            "--ModelRouter:Models:0:ChatTemplate=chatml",
            "--ModelRouter:Models:1:Name=" + Forged,
            "--ModelRouter:Models:1:Path=" + forged.Path,
            "--ModelRouter:DeviceBudgetBytes=1073741824",
            "--ModelRouter:Scheduler:ContextPerSequence=2048",
        ]);

    private static OpenAIClient Sdk(TestServer server) => OpenAiDoor.Sdk(server);

    private static HttpClient Http(TestServer server) => OpenAiDoor.Http(server);

    private static StringContent Json(string json) => OpenAiDoor.Json(json);

    /// <summary>A tiny random-weight Llama whose GGUF carries Qwen 2.5's chat template (tool calls in &lt;tool_call&gt; JSON).</summary>
    private static ForgedDoorModel QwenTemplatedModel() =>
        new(seed: 23, File.ReadAllText(TestRepository.RequireLlamaFile(Path.Combine("models", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja"))), Cancel);
}
