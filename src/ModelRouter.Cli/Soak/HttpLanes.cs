using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace ModelRouter.Cli.Soak;

/// <summary>
/// The OpenAI-compatible HTTP door driven with a plain HttpClient: JSON and SSE chats and completions on named models
/// and "auto", embeddings, streams aborted after their first event, slow readers, a fresh connection per request
/// (churn) and forced swaps through the admin endpoints.
/// </summary>
internal sealed class HttpLanes(SoakLoad load) : IDisposable
{
    private readonly HttpClient http = Client(load.Server.Http, SoakServer.Token);
    private readonly HttpClient admin = Client(load.Server.Http, SoakServer.AdminToken);

    public IReadOnlyList<Task> Start()
    {
        var lanes = new List<Task>();
        for (var i = 0; i < load.Settings.Concurrency; i++)
        {
            lanes.Add(Task.Run(() => load.LoopAsync("http.json", 1100 + i, r => JsonAsync(http, r, "http.json"))));
            lanes.Add(Task.Run(() => load.LoopAsync("http.stream", 1200 + i, r => StreamAsync(r, abort: false, slow: false))));
            lanes.Add(Task.Run(() => load.LoopAsync("http.embed", 1300 + i, EmbedAsync)));
            lanes.Add(Task.Run(() => load.LoopAsync("http.abort", 1400 + i, r => StreamAsync(r, abort: true, slow: false))));
        }

        lanes.Add(Task.Run(() => load.LoopAsync("http.slow-reader", 1500, r => StreamAsync(r, abort: false, slow: true))));
        lanes.Add(Task.Run(() => load.LoopAsync("http.churn", 1600, ChurnAsync)));
        lanes.Add(Task.Run(() => load.LoopAsync("http.admin", 1700, AdminAsync)));
        return lanes;
    }

    public void Dispose()
    {
        http.Dispose();
        admin.Dispose();
    }

    private async Task JsonAsync(HttpClient client, Random random, string kind)
    {
        var chat = random.Next(2) == 0;
        var ticket = load.Ledger.Open(kind);
        try
        {
            using var request = Generation(random, chat, stream: false);
            using var response = await client.SendAsync(request, load.Aborting).ConfigureAwait(false);
            var body = await response.Content.ReadAsStringAsync(load.Aborting).ConfigureAwait(false);
            Close(ticket, response, body, static root => root.TryGetProperty("choices", out var c) && c.GetArrayLength() > 0);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 200).ConfigureAwait(false);
    }

    /// <summary>An SSE answer read to its finish reason and [DONE]; or aborted after the first event; or read slowly.</summary>
    private async Task StreamAsync(Random random, bool abort, bool slow)
    {
        var chat = random.Next(2) == 0;
        var ticket = load.Ledger.Open(abort ? "http.abort" : slow ? "http.slow-reader" : chat ? "http.chat-stream" : "http.stream");
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(load.Aborting);
        try
        {
            using var request = Generation(random, chat, stream: true, atLeast: abort ? 16 : 1);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                Close(ticket, response, await response.Content.ReadAsStringAsync(cancel.Token).ConfigureAwait(false), static _ => false);
                return;
            }

            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token).ConfigureAwait(false), Encoding.UTF8);
            var finished = false;
            string? failed = null;
            while (await reader.ReadLineAsync(cancel.Token).ConfigureAwait(false) is { } line)
            {
                if (!line.StartsWith("data:", StringComparison.Ordinal))
                {
                    continue;
                }

                var data = line["data:".Length..].Trim();
                if (data == "[DONE]")
                {
                    break;
                }

                if (abort)
                {
                    await cancel.CancelAsync().ConfigureAwait(false); // the server sees the connection drop mid-stream
                    ticket.Close(SoakOutcome.Disconnected);
                    return;
                }

                using var json = JsonDocument.Parse(data);
                if (json.RootElement.TryGetProperty("error", out var error))
                {
                    failed = "SSE " + (error.TryGetProperty("code", out var code) ? code.ToString() : "error");
                }

                finished |= json.RootElement.TryGetProperty("choices", out var choices) && choices.GetArrayLength() > 0
                    && choices[0].TryGetProperty("finish_reason", out var reason) && reason.ValueKind == JsonValueKind.String;
                if (slow)
                {
                    await Task.Delay(50, cancel.Token).ConfigureAwait(false);
                }
            }

            ticket.Close(failed is not null ? SoakOutcome.Error : finished ? SoakOutcome.Done : SoakOutcome.Lost, failed ?? "the stream ended without a finish reason or an error event");
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested && !load.Aborting.IsCancellationRequested)
        {
            ticket.Close(SoakOutcome.Disconnected);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 200).ConfigureAwait(false);
    }

    private async Task EmbedAsync(Random random)
    {
        var ticket = load.Ledger.Open("http.embed");
        try
        {
            var body = new Dictionary<string, object> { ["input"] = random.Next(2) == 0 ? SoakLoad.Prompt(random) : new[] { SoakLoad.Prompt(random), SoakLoad.Prompt(random) } };
            if (random.Next(3) != 0)
            {
                body["model"] = load.Server.Models[random.Next(load.Server.Models.Length)];
            }

            using var request = Post("v1/embeddings", body);
            using var response = await http.SendAsync(request, load.Aborting).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(load.Aborting).ConfigureAwait(false);
            Close(ticket, response, text, static root => root.TryGetProperty("data", out var d) && d.GetArrayLength() > 0);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 200).ConfigureAwait(false);
    }

    /// <summary>A new HttpClient (so a new connection) per request, disposed after it.</summary>
    private async Task ChurnAsync(Random random)
    {
        using var fresh = Client(load.Server.Http, SoakServer.Token);
        if (random.Next(2) == 0)
        {
            await JsonAsync(fresh, random, "http.churn").ConfigureAwait(false);
            return;
        }

        var ticket = load.Ledger.Open("http.churn");
        try
        {
            using var response = await fresh.GetAsync(new Uri("v1/models", UriKind.Relative), load.Aborting).ConfigureAwait(false);
            Close(ticket, response, await response.Content.ReadAsStringAsync(load.Aborting).ConfigureAwait(false), static root => root.TryGetProperty("data", out _));
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 100).ConfigureAwait(false);
    }

    private async Task AdminAsync(Random random)
    {
        var ticket = load.Ledger.Open("http.admin");
        try
        {
            var model = load.Server.Models[random.Next(load.Server.Models.Length)];
            using var request = new HttpRequestMessage(HttpMethod.Post, $"admin/models/{model}/{(random.Next(2) == 0 ? "evict" : "preload")}");
            using var response = await admin.SendAsync(request, load.Aborting).ConfigureAwait(false);
            Close(ticket, response, await response.Content.ReadAsStringAsync(load.Aborting).ConfigureAwait(false), static _ => true);
        }
        catch (Exception ex) when (Classify(ticket, ex))
        {
        }

        await load.PauseAsync(random, 3000).ConfigureAwait(false);
    }

    private HttpRequestMessage Generation(Random random, bool chat, bool stream, int atLeast = 1)
    {
        var body = new Dictionary<string, object>
        {
            ["model"] = load.Model(random) ?? "auto",
            ["max_tokens"] = Math.Max(atLeast, load.MaxTokens(random)),
            ["temperature"] = 0.7,
            ["stream"] = stream,
        };
        if (chat)
        {
            body["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = SoakLoad.Prompt(random) } };
        }
        else
        {
            body["prompt"] = SoakLoad.Prompt(random);
        }

        return Post(chat ? "v1/chat/completions" : "v1/completions", body);
    }

    private static HttpRequestMessage Post(string path, Dictionary<string, object> body) =>
        new(HttpMethod.Post, path) { Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json") };

    /// <summary>2xx with the expected shape: done; an error status with OpenAI's error object: a typed error; else lost.</summary>
    private static void Close(SoakTicket ticket, HttpResponseMessage response, string body, Func<JsonElement, bool> answered)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            if (response.IsSuccessStatusCode && answered(json.RootElement))
            {
                ticket.Close(SoakOutcome.Done);
                return;
            }

            if (!response.IsSuccessStatusCode && json.RootElement.TryGetProperty("error", out var error) && error.TryGetProperty("message", out _))
            {
                ticket.Close(SoakOutcome.Error, $"{(int)response.StatusCode} {(error.TryGetProperty("code", out var code) ? code.ToString() : "")}");
                return;
            }
        }
        catch (JsonException)
        {
            // Falls through: an answer that is not JSON is neither a result nor a typed error.
        }

        ticket.Close(SoakOutcome.Lost, $"HTTP {(int)response.StatusCode} with an unexpected body: {(body.Length > 120 ? body[..120] : body)}");
    }

    private static bool Classify(SoakTicket ticket, Exception ex)
    {
        switch (ex)
        {
            case OperationCanceledException:
                return false;
            case HttpRequestException or IOException or JsonException:
                ticket.Close(SoakOutcome.Lost, $"{ex.GetType().Name}: {ex.Message}");
                return true;
            default:
                return false;
        }
    }

    private static HttpClient Client(Uri address, string token)
    {
        var client = new HttpClient { BaseAddress = address, Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
