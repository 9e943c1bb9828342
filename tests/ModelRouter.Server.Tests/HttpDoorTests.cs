using System.ClientModel;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ModelRouter.Client;
using ModelRouter.Server.Requests;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Chat;
using OpenAI;
using OpenAI.Chat;
using OpenAI.Embeddings;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The OpenAI-compatible HTTP door in a live server, driven by the official OpenAI .NET SDK (a client nobody here
/// wrote), raw HTTP for the SSE framing, and curl. Answers are checked against the socket door's answer to the same
/// prompt (greedy decoding, so they must match exactly).
/// </summary>
public sealed class HttpDoorTests
{
    private const int Tokens = 20;
    private const string Question = "Once upon a time there was a";

    /// <summary>The HTTP door on a free port; stories260K has no chat template, so the catalog names chatml for each model.</summary>
    private static string[] HttpArgs(int models) =>
        ["--ModelRouter:Http=http://127.0.0.1:0", .. Enumerable.Range(0, models).Select(i => $"--ModelRouter:Models:{i}:ChatTemplate=chatml")];

    private static readonly string[] Tiers = ["device", "host", "disk"];

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static OpenAIClient Sdk(TestServer server, string token = TestServer.Token) =>
        new(new ApiKeyCredential(token), new OpenAIClientOptions { Endpoint = new Uri(server.Http!, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    private static ChatCompletionOptions Greedy() => new() { MaxOutputTokenCount = Tokens, Temperature = 0 };

    /// <summary>What the socket door generates for the chat rendered with chatml: the HTTP door must say the same.</summary>
    private static async Task<string> SocketAnswerAsync(TestServer server, string model)
    {
        await using var client = await server.ConnectAsync();
        var prompt = ChatTemplate.Render("chatml", [new ChatTurn("user", Question)]);
        var result = await client.CompleteAsync(new GenerateRequest { Model = model, Prompt = prompt, MaxTokens = Tokens, Temperature = 0 }, Cancel);
        return result.Text;
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_SDK_chats_with_a_named_model_and_gets_the_socket_doors_answer_and_usage()
    {
        using var models = TestModels.Create(2);
        await using var server = await TestServer.StartAsync(models, residentModels: 2, HttpArgs(2));
        var expected = await SocketAnswerAsync(server, "m1");

        ChatCompletion completion = await Sdk(server).GetChatClient("m1").CompleteChatAsync([new UserChatMessage(Question)], Greedy(), Cancel);

        Assert.Equal(expected, completion.Content[0].Text);
        Assert.Equal("m1", completion.Model);
        Assert.Equal(ChatFinishReason.Length, completion.FinishReason);
        Assert.Equal(Tokens, completion.Usage.OutputTokenCount);
        Assert.True(completion.Usage.InputTokenCount > 0);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_SDK_streams_a_routed_chat_whose_deltas_add_up_to_the_whole_answer()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        var expected = await SocketAnswerAsync(server, "m0");

        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        string? model = null;
        ChatFinishReason? finish = null;
        await foreach (var update in Sdk(server).GetChatClient("auto").CompleteChatStreamingAsync([new UserChatMessage(Question)], Greedy(), Cancel))
        {
            foreach (var part in update.ContentUpdate)
            {
                text.Append(part.Text);
            }

            usage ??= update.Usage;
            model ??= update.Model;
            finish ??= update.FinishReason;
        }

        Assert.Equal(expected, text.ToString());
        Assert.Equal("m0", model); // the router chose it, and the stream names it
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage); // the SDK asks for stream_options.include_usage
        Assert.Equal(Tokens, usage.OutputTokenCount);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_SDK_gets_embeddings_in_base64_and_float_that_match_the_socket_door()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        await using var client = await server.ConnectAsync();
        var direct = await client.EmbedAsync(new EmbedRequest { Model = "m0", Text = "a small dog" }, Cancel);

        // The SDK asks for base64 by default.
        OpenAIEmbeddingCollection embeddings = await Sdk(server).GetEmbeddingClient("m0").GenerateEmbeddingsAsync(["a small dog", "the moon"], cancellationToken: Cancel);

        Assert.Equal(2, embeddings.Count);
        // Batched with another input, the same text's vector differs only by float rounding (another batch shape).
        AssertClose(direct.Vector, embeddings[0].ToFloats().ToArray());
        Assert.NotEqual(embeddings[0].ToFloats().ToArray(), embeddings[1].ToFloats().ToArray());
        Assert.Equal(1.0, Math.Sqrt(embeddings[1].ToFloats().ToArray().Sum(v => (double)v * v)), 3);

        using var http = Http(server);
        using var response = await http.PostAsync("/v1/embeddings", Json("""{"model":"m0","input":"a small dog","encoding_format":"float"}"""), Cancel);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        var floats = body.RootElement.GetProperty("data")[0].GetProperty("embedding").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        AssertClose(direct.Vector, floats);
        Assert.True(body.RootElement.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 0);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_SDK_lists_the_catalog_with_tiers()
    {
        using var models = TestModels.Create(2);
        await using var server = await TestServer.StartAsync(models, residentModels: 2, HttpArgs(2));

        var listed = await Sdk(server).GetOpenAIModelClient().GetModelsAsync(Cancel);

        Assert.Equal(["m0", "m1"], listed.Value.Select(m => m.Id).Order());
        using var http = Http(server);
        using var body = JsonDocument.Parse(await http.GetStringAsync("/v1/models", Cancel));
        var tier = body.RootElement.GetProperty("data")[0].GetProperty("modelrouter").GetProperty("tier").GetString();
        Assert.Contains(tier, Tiers);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Each_error_reaches_the_SDK_as_its_exception_with_the_right_status()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        var messages = new ChatMessage[] { new UserChatMessage(Question) };

        var unknown = await Assert.ThrowsAsync<ClientResultException>(() => Sdk(server).GetChatClient("no-such-model").CompleteChatAsync(messages, Greedy(), Cancel));
        Assert.Equal(404, unknown.Status);
        Assert.Contains("no-such-model", unknown.Message, StringComparison.Ordinal);

        var badToken = await Assert.ThrowsAsync<ClientResultException>(() => Sdk(server, "wrong").GetChatClient("m0").CompleteChatAsync(messages, Greedy(), Cancel));
        Assert.Equal(401, badToken.Status);

        var tooMany = await Assert.ThrowsAsync<ClientResultException>(() =>
            Sdk(server).GetChatClient("m0").CompleteChatAsync(messages, new ChatCompletionOptions { MaxOutputTokenCount = 1_000_000 }, Cancel));
        Assert.Equal(400, tooMany.Status);

        using var http = Http(server);
        using var n2 = await http.PostAsync("/v1/chat/completions", Json("""{"model":"m0","n":2,"messages":[{"role":"user","content":"hi"}]}"""), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, n2.StatusCode);
        using var error = JsonDocument.Parse(await n2.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("n", error.RootElement.GetProperty("error").GetProperty("param").GetString());
        Assert.Equal("invalid_request_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());

        using var broken = await http.PostAsync("/v1/chat/completions", Json("""{"model":"m0","messages":[{"role":"user","content":"hi"}"""), Cancel);
        Assert.Equal(HttpStatusCode.BadRequest, broken.StatusCode);

        var huge = new string('x', 300 << 10);
        using var tooLong = await http.PostAsync("/v1/completions", Json($$"""{"model":"m0","prompt":"{{huge}}"}"""), Cancel);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLong.StatusCode);

        using var admin = await http.PostAsync("/admin/models/m0/pin", null, Cancel);
        Assert.Equal(HttpStatusCode.Forbidden, admin.StatusCode);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Past_the_in_flight_limit_the_SDK_gets_429_with_Retry_After()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1,
            [.. HttpArgs(1), "--ModelRouter:Limits:MaxRequestsInFlight=1", "--ModelRouter:Scheduler:ContextPerSequence=4096"]);
        using var http = Http(server);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = Json("""{"model":"m0","prompt":"Once upon a time","stream":true,"max_tokens":4000}"""),
        };
        using var running = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);
        await using var stream = await running.Content.ReadAsStreamAsync(Cancel);
        _ = await stream.ReadAsync(new byte[64], Cancel); // the first request is generating: the only slot is taken

        using var refused = await http.PostAsync("/v1/completions", Json("""{"model":"m0","prompt":"hi","max_tokens":2}"""), Cancel);

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(refused.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        using var error = JsonDocument.Parse(await refused.Content.ReadAsStringAsync(Cancel));
        Assert.Equal("overloaded", error.RootElement.GetProperty("error").GetProperty("code").GetString());
        Assert.Equal("rate_limit_error", error.RootElement.GetProperty("error").GetProperty("type").GetString());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task At_the_shutdown_deadline_a_started_stream_gets_a_final_error_event_and_a_queued_request_a_503_never_silence()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1,
            [.. HttpArgs(1), "--ModelRouter:ShutdownTimeoutSeconds=0", "--ModelRouter:Scheduler:MaxBatchPerModel=1", "--ModelRouter:Scheduler:ContextPerSequence=4096"]);
        using var http = Http(server);
        var pipeline = (RequestPipeline)server.Services.GetService(typeof(RequestPipeline))!;
        using var first = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
        {
            Content = Json("""{"model":"m0","prompt":"Once upon a time","stream":true,"max_tokens":4000}"""),
        };
        using var running = await http.SendAsync(first, HttpCompletionOption.ResponseHeadersRead, Cancel);
        await using var stream = await running.Content.ReadAsStreamAsync(Cancel);
        var head = new byte[64];
        var read = await stream.ReadAsync(head, Cancel); // generating: it holds the only slot
        var queued = http.PostAsync("/v1/completions", Json("""{"model":"m0","prompt":"Once upon a time","stream":true,"max_tokens":4000}"""), Cancel);
        while (pipeline.RequestsInFlight < 2 && !queued.IsCompleted)
        {
            await Task.Yield(); // the second request is accepted and waits for the slot
        }

        await server.StopAsync(CancellationToken.None); // ShutdownTimeoutSeconds=0: the deadline is now

        var rest = Encoding.UTF8.GetString(head, 0, read) + await new StreamReader(stream).ReadToEndAsync(Cancel);
        using var second = await queued;
        var secondBody = await second.Content.ReadAsStringAsync(Cancel);
        var endings = new[] { (Status: (int)running.StatusCode, Body: rest), (Status: (int)second.StatusCode, Body: secondBody) };

        // Each ends in words: finished (its last event and [DONE]) or shutting_down; at least one was cut off.
        Assert.All(endings, e => Assert.True(e.Body.Contains("shutting_down", StringComparison.Ordinal) || e.Body.Contains("[DONE]", StringComparison.Ordinal),
            $"{e.Status}: {e.Body[^Math.Min(200, e.Body.Length)..]}"));
        Assert.Contains(endings, e => e.Body.Contains("shutting_down", StringComparison.Ordinal));
        if (rest.Contains("shutting_down", StringComparison.Ordinal))
        {
            Assert.Contains("data: {\"error\"", rest, StringComparison.Ordinal); // a final SSE error event on the started stream
        }

        if (secondBody.Contains("shutting_down", StringComparison.Ordinal) && !secondBody.StartsWith("data:", StringComparison.Ordinal))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, second.StatusCode); // never started: a plain 503
        }
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_model_without_a_chat_template_is_a_clear_400_naming_it()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Http=http://127.0.0.1:0");

        var error = await Assert.ThrowsAsync<ClientResultException>(() => Sdk(server).GetChatClient("m0").CompleteChatAsync([new UserChatMessage(Question)], Greedy(), Cancel));

        Assert.Equal(400, error.Status);
        Assert.Contains("'m0' has no chat template", error.Message, StringComparison.Ordinal);

        // A raw completion still works on it.
        using var http = Http(server);
        using var response = await http.PostAsync("/v1/completions", Json("""{"model":"m0","prompt":"Once upon a time","max_tokens":5,"temperature":0}"""), Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_stream_is_framed_as_server_sent_events_byte_for_byte()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        using var http = Http(server);

        using var response = await http.PostAsync("/v1/chat/completions",
            Json("""{"model":"m0","stream":true,"stream_options":{"include_usage":true},"max_tokens":5,"temperature":0,"messages":[{"role":"user","content":"Once upon a time"}]}"""), Cancel);
        var raw = await response.Content.ReadAsStringAsync(Cancel);

        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("m0", response.Headers.GetValues("x-modelrouter-model").Single());
        Assert.EndsWith("\n\ndata: [DONE]\n\n", raw, StringComparison.Ordinal);
        var events = raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.All(events, e => Assert.StartsWith("data: ", e, StringComparison.Ordinal));
        Assert.All(events, e => Assert.DoesNotContain('\n', e));
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..])).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c.RootElement.GetProperty("object").GetString()));
        Assert.Equal("assistant", chunks[0].RootElement.GetProperty("choices")[0].GetProperty("delta").GetProperty("role").GetString());
        var last = chunks[^1].RootElement;
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        Assert.Equal(5, last.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var final = chunks[^2].RootElement;
        Assert.Equal("length", final.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.True(final.GetProperty("modelrouter").GetProperty("total_ms").GetDouble() > 0);
        Assert.Single(chunks.Select(c => c.RootElement.GetProperty("id").GetString()).Distinct());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_streamed_text_completion_adds_up_to_the_same_text_as_a_whole_one()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        using var http = Http(server);
        const string Body = """{"model":"m0","prompt":"Once upon a time","max_tokens":12,"temperature":0""";

        using var whole = JsonDocument.Parse(await (await http.PostAsync("/v1/completions", Json(Body + "}"), Cancel)).Content.ReadAsStringAsync(Cancel));
        var raw = await (await http.PostAsync("/v1/completions", Json(Body + ""","stream":true}"""), Cancel)).Content.ReadAsStringAsync(Cancel);

        var chunks = raw.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)[..^1].Select(e => JsonDocument.Parse(e["data: ".Length..]).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        Assert.All(chunks, c => Assert.False(c.GetProperty("choices")[0].TryGetProperty("delta", out _)));
        var streamed = string.Concat(chunks.Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(whole.RootElement.GetProperty("choices")[0].GetProperty("text").GetString(), streamed);
        Assert.Equal(TestModels.Reference(60)[..streamed.Length], streamed);
        Assert.Equal("length", chunks[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Curl_gets_a_completion_and_the_health_and_metrics_endpoints_answer()
    {
        if (!File.Exists("/usr/bin/curl"))
        {
            Assert.Skip("curl is not installed (/usr/bin/curl); this test runs it as a real client.");
        }

        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));

        var answer = await CurlAsync($"-sS -H \"Authorization: Bearer {TestServer.Token}\" -H \"Content-Type: application/json\" " +
            $"-d '{{\"model\":\"m0\",\"prompt\":\"Once upon a time\",\"max_tokens\":8,\"temperature\":0}}' {server.Http}v1/completions");
        using var body = JsonDocument.Parse(answer);
        Assert.Equal("text_completion", body.RootElement.GetProperty("object").GetString());
        Assert.Equal(8, body.RootElement.GetProperty("usage").GetProperty("completion_tokens").GetInt32());

        Assert.Contains("\"alive\"", await CurlAsync($"-sS {server.Http}health"), StringComparison.Ordinal);
        Assert.Contains("\"ready\"", await CurlAsync($"-sS {server.Http}ready"), StringComparison.Ordinal);
        Assert.Contains("modelrouter_requests", await CurlAsync($"-sS {server.Http}metrics"), StringComparison.Ordinal);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Admin_endpoints_pin_evict_and_list_with_the_admin_token()
    {
        using var models = TestModels.Create(2);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(2));
        using var http = Http(server, TestServer.AdminToken);

        using var preload = await http.PostAsync("/admin/models/m1/preload", null, Cancel);
        Assert.Equal(HttpStatusCode.OK, preload.StatusCode);
        using var pin = await http.PostAsync("/admin/models/m1/pin", null, Cancel);
        Assert.Equal(HttpStatusCode.OK, pin.StatusCode);
        using var list = JsonDocument.Parse(await http.GetStringAsync("/admin/models", Cancel));
        var m1 = list.RootElement.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "m1");
        Assert.True(m1.GetProperty("pinned").GetBoolean());
        Assert.Equal("device", m1.GetProperty("tier").GetString());
        using var evict = await http.PostAsync("/admin/models/m1/evict", null, Cancel);
        Assert.Contains("not evicted: pinned", await evict.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
        using var unknown = await http.PostAsync("/admin/models/nope/pin", null, Cancel);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_client_that_disconnects_mid_stream_frees_its_slot()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, [.. HttpArgs(1), "--ModelRouter:Limits:MaxTokens=100000"]);
        var pipeline = (Requests.RequestPipeline)server.Services.GetService(typeof(Requests.RequestPipeline))!;
        using (var http = Http(server))
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/completions")
            {
                Content = Json("""{"model":"m0","prompt":"Once upon a time","stream":true,"max_tokens":100000}"""),
            };
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);
            await using var stream = await response.Content.ReadAsStreamAsync(Cancel);
            var buffer = new byte[256];
            _ = await stream.ReadAsync(buffer, Cancel); // the generation is running
            Assert.Equal(1, pipeline.RequestsInFlight);
        }

        // The connection is gone: the generation is cancelled and its slot freed (well before 100,000 tokens).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (pipeline.RequestsInFlight != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, Cancel);
        }

        Assert.Equal(0, pipeline.RequestsInFlight);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_socket_doors_chat_frame_renders_the_same_template_as_the_HTTP_door()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        var expected = await SocketAnswerAsync(server, "m0");
        await using var client = await server.ConnectAsync();

        var result = await client.CompleteChatAsync(new ChatGenerateRequest
        {
            Model = "m0",
            Messages = [new ChatRequestMessage("user", Question)],
            MaxTokens = Tokens,
            Temperature = 0,
        }, Cancel);

        Assert.Equal(expected, result.Text);
        Assert.Equal(Tokens, result.Stats.GeneratedTokens);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_fallback_crosses_a_real_HTTP_hop_when_the_first_remote_is_down()
    {
        using var models = TestModels.Create(1);
        await using var peer = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        var expected = await SocketAnswerAsync(peer, "m0");

        // A port nobody listens on: bound and released, so connecting is refused.
        var closed = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var deadPort = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        // The peer wants its bearer token; the front reads a remote's key from the environment, never from the config.
        Environment.SetEnvironmentVariable("MODELROUTER_TEST_PEER_KEY", TestServer.Token);
        await using var front = await TestServer.StartAsync(models, residentModels: 1,
        [
            .. HttpArgs(1),
            "--ModelRouter:Remotes:0:Name=down",
            $"--ModelRouter:Remotes:0:Endpoint=http://127.0.0.1:{deadPort}",
            "--ModelRouter:Remotes:0:Model=m0",
            "--ModelRouter:Remotes:0:Retries=0",
            "--ModelRouter:Remotes:1:Name=peer",
            $"--ModelRouter:Remotes:1:Endpoint={peer.Http}",
            "--ModelRouter:Remotes:1:Model=m0",
            "--ModelRouter:Remotes:1:ApiKeyVariable=MODELROUTER_TEST_PEER_KEY",
            "--ModelRouter:Routes:0:Task=chat",
            "--ModelRouter:Routes:0:Models:0=m0",
            "--ModelRouter:Routes:0:Remotes:0=down",
            "--ModelRouter:Routes:0:Remotes:1=peer",
        ]);

        // Through the front's HTTP door, routed: down fails, the peer's HTTP door answers with its model's words.
        ChatCompletion completion = await Sdk(front).GetChatClient("auto").CompleteChatAsync([new UserChatMessage(Question)], Greedy(), Cancel);

        Assert.Equal("peer", completion.Model);
        Assert.Equal(expected, completion.Content[0].Text);
        Assert.Equal(Tokens, completion.Usage.OutputTokenCount); // the peer's own usage, carried over the hop
    }

    private static HttpClient Http(TestServer server, string token = TestServer.Token)
    {
        var http = new HttpClient { BaseAddress = server.Http };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static void AssertClose(float[] expected, float[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) < 1e-5, $"element {i}: {expected[i]} vs {actual[i]}");
        }
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<string> CurlAsync(string arguments)
    {
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("/bin/sh", ["-c", "curl " + arguments])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var output = await process.StandardOutput.ReadToEndAsync(Cancel);
        await process.WaitForExitAsync(Cancel);
        Assert.True(process.ExitCode == 0, $"curl failed ({process.ExitCode}): {await process.StandardError.ReadToEndAsync(Cancel)}");
        return output;
    }
}
