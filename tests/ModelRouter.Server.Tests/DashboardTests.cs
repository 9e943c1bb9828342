using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ModelRouter.Server.Diagnostics;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The dashboard's server side: the embedded files (open, strict content policy, nothing fetched from elsewhere), the
/// state and event endpoints (the API's token; excerpts for admins only), and the rings they read (swaps from the
/// pool's event, decisions and their outcomes from the request path, queue samples). The page itself runs in a real
/// browser in <see cref="DashboardBrowserTests"/>.
/// </summary>
public sealed class DashboardTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string[] HttpArgs(int models) =>
        ["--ModelRouter:Http=http://127.0.0.1:0", .. Enumerable.Range(0, models).Select(i => $"--ModelRouter:Models:{i}:ChatTemplate=chatml")];

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_page_and_its_files_are_served_without_a_token_under_a_strict_content_policy()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        using var http = new HttpClient { BaseAddress = server.Http };

        foreach (var (path, type) in new[] { ("/", "text/html"), ("/dashboard/app.css", "text/css"), ("/dashboard/app.js", "text/javascript") })
        {
            using var response = await http.GetAsync(path, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal(type, response.Content.Headers.ContentType?.MediaType);
            var policy = string.Join(' ', response.Headers.GetValues("Content-Security-Policy"));
            Assert.Contains("default-src 'none'", policy, StringComparison.Ordinal);
            Assert.Contains("connect-src 'self'", policy, StringComparison.Ordinal);
            var body = await response.Content.ReadAsStringAsync(Cancel);

            // No CDN, no fonts, nothing from elsewhere: the only absolute URL is the SVG namespace, which is a name.
            var urls = Regex.Matches(body, @"https?://[^\s'""`<>)]+").Select(m => m.Value).Distinct();
            Assert.All(urls, url => Assert.Equal("http://www.w3.org/2000/svg", url));
        }

        var page = await http.GetStringAsync("/", Cancel);
        Assert.Contains("src=\"/dashboard/app.js\"", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", page, StringComparison.Ordinal); // no inline script: the policy would refuse it
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_state_needs_the_APIs_token_and_lists_the_models_as_the_admin_list_does()
    {
        using var models = TestModels.Create(3);
        await using var server = await TestServer.StartAsync(models, residentModels: 2, HttpArgs(3));
        using var anonymous = new HttpClient { BaseAddress = server.Http };
        using var wrong = Http(server, "not-a-token");
        using var admin = Http(server, TestServer.AdminToken);
        using var client = Http(server);

        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("/dashboard/api/state", Cancel)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await wrong.GetAsync("/dashboard/api/events", Cancel)).StatusCode);
        (await admin.PostAsync("/admin/models/m1/preload", null, Cancel)).EnsureSuccessStatusCode();
        (await admin.PostAsync("/admin/models/m1/pin", null, Cancel)).EnsureSuccessStatusCode();

        using var state = JsonDocument.Parse(await client.GetStringAsync("/dashboard/api/state", Cancel));
        using var list = JsonDocument.Parse(await admin.GetStringAsync("/admin/models", Cancel));

        Assert.False(state.RootElement.GetProperty("admin").GetBoolean());
        Assert.Equal(Cards(list.RootElement), Cards(state.RootElement));
        Assert.Contains(("m1", "device", true), Cards(state.RootElement).Select(c => (c.Id, c.Tier, c.Pinned)));
        Assert.Equal(list.RootElement.GetProperty("device_bytes_budget").GetInt64(), state.RootElement.GetProperty("device_bytes_budget").GetInt64());
        Assert.Equal(list.RootElement.GetProperty("device_bytes_used").GetInt64(), state.RootElement.GetProperty("device_bytes_used").GetInt64());
        using var asAdmin = JsonDocument.Parse(await admin.GetStringAsync("/dashboard/api/state", Cancel));
        Assert.True(asAdmin.RootElement.GetProperty("admin").GetBoolean());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task Routing_decisions_carry_their_outcome_and_the_prompt_excerpt_only_for_admins()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        using var client = Http(server);
        using var admin = Http(server, TestServer.AdminToken);
        const string secret = "Once upon a time there was a little girl who kept a secret in a small red box under her bed at night";

        using var chat = await client.PostAsync("/v1/chat/completions",
            Json($$"""{"model":"auto","messages":[{"role":"user","content":"{{secret}}"}],"max_tokens":4,"temperature":0}"""), Cancel);
        chat.EnsureSuccessStatusCode();
        using var named = await client.PostAsync("/v1/completions", Json("""{"model":"m0","prompt":"not routed","max_tokens":2}"""), Cancel);
        named.EnsureSuccessStatusCode();

        using var asClient = JsonDocument.Parse(await client.GetStringAsync("/dashboard/api/state", Cancel));
        using var asAdmin = JsonDocument.Parse(await admin.GetStringAsync("/dashboard/api/state", Cancel));

        var seen = Assert.Single(asClient.RootElement.GetProperty("routes").EnumerateArray()); // the named request was not routed
        Assert.False(seen.TryGetProperty("excerpt", out _));
        Assert.False(asClient.RootElement.GetProperty("prompt_excerpts").GetBoolean());
        Assert.Equal("chat", seen.GetProperty("task").GetString());
        Assert.Equal("classifier", seen.GetProperty("stage").GetString());
        Assert.Equal("m0", seen.GetProperty("model").GetString());
        Assert.True(seen.GetProperty("ended").GetBoolean());
        Assert.Equal("length", seen.GetProperty("outcome").GetString());
        Assert.Equal(4, seen.GetProperty("tokens").GetInt32());
        Assert.True(seen.GetProperty("total_ms").GetDouble() > 0);

        var full = Assert.Single(asAdmin.RootElement.GetProperty("routes").EnumerateArray());
        Assert.Equal(secret[..ServerEvents.ExcerptChars] + "…", full.GetProperty("excerpt").GetString());
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_event_stream_pushes_an_evict_with_its_duration_and_samples_the_queues()
    {
        using var models = TestModels.Create(2);
        await using var server = await TestServer.StartAsync(models, residentModels: 2, HttpArgs(2));
        using var admin = Http(server, TestServer.AdminToken);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/dashboard/api/events");
        using var response = await admin.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        await using var events = new EventStream(await response.Content.ReadAsStreamAsync(Cancel));
        string startTier;
        using (var first = await events.NextAsync())
        {
            Assert.Equal(2, first.RootElement.GetProperty("models").GetArrayLength());
        }

        string TierOf(JsonElement root) => root.GetProperty("models").EnumerateArray().Single(m => m.GetProperty("id").GetString() == "m0").GetProperty("tier").GetString()!;
        using (var before = JsonDocument.Parse(await admin.GetStringAsync("/admin/models", Cancel)))
        {
            startTier = TierOf(before.RootElement);
        }

        (await admin.PostAsync("/admin/models/m0/preload", null, Cancel)).EnsureSuccessStatusCode();
        (await admin.PostAsync("/admin/models/m0/evict", null, Cancel)).EnsureSuccessStatusCode();

        var swaps = new List<(string Model, string Kind, string Tier, double Ms)>();
        var sampled = false;
        var lastSwapSeq = 0L;
        while (!swaps.Any(s => s.Kind == "evict") || !sampled)
        {
            using var next = await events.NextAsync();
            foreach (var swap in next.RootElement.GetProperty("swaps").EnumerateArray())
            {
                var seq = swap.GetProperty("seq").GetInt64();
                Assert.True(seq > lastSwapSeq, "each event carries only swaps it did not send before");
                lastSwapSeq = seq;
                swaps.Add((swap.GetProperty("model").GetString()!, swap.GetProperty("kind").GetString()!, swap.GetProperty("tier").GetString()!,
                    swap.GetProperty("ms").GetDouble()));
            }

            foreach (var sample in next.RootElement.GetProperty("queue").EnumerateArray())
            {
                sampled |= sample.GetProperty("queued").TryGetProperty("m0", out _) && sample.GetProperty("in_flight").TryGetProperty("m1", out _);
            }
        }

        Assert.NotEqual("device", startTier);
        Assert.Equal([("m0", "restore", startTier), ("m0", "evict", "host")], swaps.Select(s => (s.Model, s.Kind, s.Tier)));
        Assert.All(swaps, s => Assert.True(s.Ms >= 0));
        using var state = JsonDocument.Parse(await admin.GetStringAsync("/dashboard/api/state", Cancel));
        Assert.Equal("host", TierOf(state.RootElement));
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_live_view_ends_when_the_server_stops()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, HttpArgs(1));
        using var client = Http(server);
        using var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/dashboard/api/events"), HttpCompletionOption.ResponseHeadersRead, Cancel);
        await using var events = new EventStream(await response.Content.ReadAsStreamAsync(Cancel));
        (await events.NextAsync()).Dispose();

        var stopping = server.StopAsync();
        while (await events.TryNextAsync() is { } more)
        {
            more.Dispose();
        }

        await stopping; // the stream ended with the stop, not at the host's shutdown timeout
    }

    private static List<(string Id, string Tier, long Bytes, bool Pinned, int InFlight, int Queued)> Cards(JsonElement root) =>
        root.GetProperty("models").EnumerateArray().Select(m => (m.GetProperty("id").GetString()!, m.GetProperty("tier").GetString()!,
            m.GetProperty("weight_bytes").GetInt64(), m.GetProperty("pinned").GetBoolean(), m.GetProperty("in_flight").GetInt32(),
            m.GetProperty("queued").GetInt32())).ToList();

    private static HttpClient Http(TestServer server, string token = TestServer.Token)
    {
        var http = new HttpClient { BaseAddress = server.Http };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>Reads the <c>data:</c> events of a text/event-stream response, one JSON document each.</summary>
    private sealed class EventStream(Stream stream) : IAsyncDisposable
    {
        private readonly StreamReader reader = new(stream, Encoding.UTF8);

        public async Task<JsonDocument> NextAsync() =>
            await TryNextAsync() ?? throw new InvalidOperationException("the event stream ended");

        public async Task<JsonDocument?> TryNextAsync()
        {
            var data = new StringBuilder();
            while (await reader.ReadLineAsync(Cancel) is { } line)
            {
                if (line.Length == 0 && data.Length > 0)
                {
                    return JsonDocument.Parse(data.ToString());
                }

                if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data.Append(line, 6, line.Length - 6);
                }
            }

            return null;
        }

        public async ValueTask DisposeAsync()
        {
            reader.Dispose();
            await stream.DisposeAsync();
        }
    }
}
