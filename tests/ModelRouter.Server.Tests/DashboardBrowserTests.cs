using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ModelRouter.Server.Tests.Browser;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The dashboard in a real browser (Debian's headless Chromium over the DevTools protocol) against a live server:
/// the cards match GET /admin/models, an evict pressed on the page moves the card, a playground prompt streams the
/// server's own answer and shows the decision, and without a token the page asks for one. Screenshots go to
/// artifacts/test-results/dashboard/. Skips, saying why, where no Chromium is installed.
/// </summary>
public sealed class DashboardBrowserTests
{
    private const string Question = "Once upon a time there was a";
    private static readonly TimeSpan PageWait = TimeSpan.FromSeconds(60);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string Shots => Path.Combine(TestRepository.Root, "artifacts", "test-results", "dashboard");

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task The_page_shows_the_models_moves_a_card_on_evict_streams_a_prompt_and_asks_for_a_token()
    {
        var executable = HeadlessChromium.Find();
        if (executable is null)
        {
            Assert.Skip("no Chromium found (chromium, chromium-browser or google-chrome on PATH, or MR_CHROMIUM); ./build.sh test installs Debian's chromium when it can");
        }

        using var models = TestModels.Create(3);
        await using var server = await TestServer.StartAsync(models, residentModels: 2,
            ["--ModelRouter:Http=http://127.0.0.1:0", .. Enumerable.Range(0, 3).Select(i => $"--ModelRouter:Models:{i}:ChatTemplate=chatml")]);
        using var admin = Http(server, TestServer.AdminToken);
        (await admin.PostAsync("/admin/models/m0/preload", null, Cancel)).EnsureSuccessStatusCode();
        (await admin.PostAsync("/admin/models/m1/preload", null, Cancel)).EnsureSuccessStatusCode();
        (await admin.PostAsync("/admin/models/m1/pin", null, Cancel)).EnsureSuccessStatusCode();
        var expected = await AnswerAsync(server);

        await using var browser = await HeadlessChromium.StartAsync(executable, 1400, 1500, Cancel);
        await browser.NavigateAsync(new Uri(server.Http!, "/#token=" + TestServer.AdminToken), Cancel);

        // 1. The cards are the admin list: tier, bytes, pinned, in flight, queued.
        await browser.WaitForAsync("document.querySelectorAll('.card').length === 3 && document.querySelector('#connection').dataset.state === 'live'"
            + " && getComputedStyle(document.querySelector('#token-form')).display === 'none'",
            "three cards and a live connection", PageWait, Cancel);
        var cards = await browser.EvaluateAsync("""
            [...document.querySelectorAll('.card')].map(c => [c.dataset.model, c.closest('.tier').dataset.tier, c.dataset.bytes,
              c.dataset.pinned, c.dataset.inFlight, c.dataset.queued].join(' ')).sort()
            """, Cancel);
        Assert.Equal(await AdminCardsAsync(admin), cards.EnumerateArray().Select(c => c.GetString()!).ToList());
        Assert.Equal("", (await browser.EvaluateAsync("location.hash", Cancel)).GetString()); // the token left the address bar
        Assert.True((await browser.EvaluateAsync("!document.querySelector('.card[data-model=\"m0\"] .ops').hidden", Cancel)).GetBoolean());
        await browser.ScreenshotAsync(Path.Combine(Shots, "01-cards.png"), Cancel);

        // 2. Evict pressed on the page: the card moves to the host tier and the swap shows on the timeline.
        await browser.EvaluateAsync("document.querySelector('.card[data-model=\"m0\"] button[data-op=\"evict\"]').click()", Cancel);
        await browser.WaitForAsync("""
            document.querySelector('.tier[data-tier="host"] .card[data-model="m0"]')
              && document.querySelector('#swap-list li[data-model="m0"][data-kind="evict"]')
              && document.querySelector('#swap-chart polygon')
            """, "m0's card in the host tier and its evict on the timeline", PageWait, Cancel);
        Assert.Contains(await AdminCardsAsync(admin), card => card.StartsWith("m0 host ", StringComparison.Ordinal));
        await browser.ScreenshotAsync(Path.Combine(Shots, "02-evicted.png"), Cancel);

        // 3. The playground streams a routed prompt: the server's own answer, and the decision beside it.
        await browser.EvaluateAsync($$"""
            document.querySelector('#play-prompt').value = {{JsonSerializer.Serialize(Question)}};
            document.querySelector('#play-model').value = 'auto';
            document.querySelector('#play-max').value = '20';
            document.querySelector('#play-temp').value = '0';
            document.querySelector('#play-send').click();
            """, Cancel);
        var outcome = await browser.WaitForAsync("['done', 'error'].includes(document.querySelector('#play-output').dataset.state) && document.querySelector('#play-output').dataset.state",
            "the playground's answer to end", PageWait, Cancel);
        var text = (await browser.EvaluateAsync("document.querySelector('#play-output').textContent", Cancel)).GetString();
        Assert.True(outcome.GetString() == "done", $"the playground failed: {text}");
        Assert.Equal(expected, text);
        var decision = (await browser.EvaluateAsync("document.querySelector('#play-decision').textContent", Cancel)).GetString()!;
        Assert.Contains("task chat", decision, StringComparison.Ordinal);
        await browser.WaitForAsync($$"""
            [...document.querySelectorAll('#routes tbody tr')].some(r => r.textContent.includes({{JsonSerializer.Serialize(Question)}}) && !r.textContent.includes('running'))
            """, "the decision with its excerpt and outcome in the table", PageWait, Cancel);
        await browser.ScreenshotAsync(Path.Combine(Shots, "03-playground.png"), Cancel);

        // 4. Without a token the page asks for one; the client token shows the page without admin buttons or excerpts.
        await browser.EvaluateAsync("sessionStorage.clear(); location.reload()", Cancel);
        await browser.WaitForAsync("getComputedStyle(document.querySelector('#token-form')).display !== 'none' && document.querySelector('#connection').dataset.state === 'off'",
            "the token prompt", PageWait, Cancel);
        await browser.ScreenshotAsync(Path.Combine(Shots, "04-token-prompt.png"), Cancel);
        await browser.EvaluateAsync($$"""
            document.querySelector('#token-input').value = {{JsonSerializer.Serialize(TestServer.Token)}};
            document.querySelector('#token-form').requestSubmit();
            """, Cancel);
        await browser.WaitForAsync("document.querySelector('#role').textContent === 'client' && document.querySelectorAll('.card').length === 3",
            "the page with the client token", PageWait, Cancel);
        Assert.True((await browser.EvaluateAsync("[...document.querySelectorAll('.card .ops')].every(o => o.hidden)", Cancel)).GetBoolean());
        await browser.WaitForAsync("document.querySelectorAll('#routes tbody tr[data-id]').length === 2", "both decisions in the client's table", PageWait, Cancel);
        Assert.False((await browser.EvaluateAsync($"document.querySelector('#routes tbody').textContent.includes({JsonSerializer.Serialize(Question)})", Cancel)).GetBoolean());

        Assert.Empty(browser.Problems); // no script errors, nothing the content policy refused
    }

    /// <summary>What the server answers (not streamed) to the chat the playground sends.</summary>
    private static async Task<string> AnswerAsync(TestServer server)
    {
        using var http = Http(server, TestServer.Token);
        using var response = await http.PostAsync("/v1/chat/completions", new StringContent(
            $$"""{"model":"auto","messages":[{"role":"user","content":{{JsonSerializer.Serialize(Question)}}}],"max_tokens":20,"temperature":0}""",
            Encoding.UTF8, "application/json"), Cancel);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel));
        return body.RootElement.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!;
    }

    private static async Task<List<string>> AdminCardsAsync(HttpClient admin)
    {
        using var list = JsonDocument.Parse(await admin.GetStringAsync("/admin/models", Cancel));
        return list.RootElement.GetProperty("models").EnumerateArray().Select(m => string.Join(' ', m.GetProperty("id").GetString(), m.GetProperty("tier").GetString(),
            m.GetProperty("weight_bytes").GetInt64(), m.GetProperty("pinned").GetBoolean() ? "true" : "false", m.GetProperty("in_flight").GetInt32(),
            m.GetProperty("queued").GetInt32())).Order(StringComparer.Ordinal).ToList();
    }

    private static HttpClient Http(TestServer server, string token)
    {
        var http = new HttpClient { BaseAddress = server.Http };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return http;
    }
}
