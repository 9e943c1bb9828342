using System.ClientModel;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using ModelRouter.Runtime.Forge;
using ModelRouter.Tests.Shared;
using OpenAI;

namespace ModelRouter.Server.Tests;

/// <summary>What the HTTP door tests share: clients for a live <see cref="TestServer"/> and a forged model to serve.</summary>
internal static class OpenAiDoor
{
    /// <summary>The official OpenAI SDK pointed at the server's /v1, without retries (a failure must show).</summary>
    public static OpenAIClient Sdk(TestServer server) =>
        new(new ApiKeyCredential(TestServer.Token), new OpenAIClientOptions { Endpoint = new Uri(server.Http!, "/v1"), RetryPolicy = new System.ClientModel.Primitives.ClientRetryPolicy(0) });

    public static HttpClient Http(TestServer server)
    {
        var http = new HttpClient { BaseAddress = server.Http };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", TestServer.Token);
        return http;
    }

    public static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    /// <summary>POSTs <paramref name="body"/> and parses the answer, which must be a success.</summary>
    public static async Task<JsonDocument> PostAsync(HttpClient http, string path, string body, CancellationToken cancellation)
    {
        using var response = await http.PostAsync(path, Json(body), cancellation);
        var text = await response.Content.ReadAsStringAsync(cancellation);
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text);
    }
}

/// <summary>
/// A tiny Llama with random weights and llama.cpp's vocabulary for it, in a temp folder; with
/// <paramref name="chatTemplate"/> written into its metadata (null: the family's).
/// </summary>
internal sealed class ForgedDoorModel : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("mr-forged-door-").FullName;

    public ForgedDoorModel(ulong seed, string? chatTemplate = null, CancellationToken cancellation = default)
    {
        var vocab = TestRepository.RequireLlamaFile(System.IO.Path.Combine("models", VocabLocator.DefaultFileName(ForgeArchitecture.Llama)));
        var shape = ForgePresets.TryGet("tiny", out var tiny) ? tiny : throw new InvalidOperationException("no tiny preset");
        Path = System.IO.Path.Combine(directory, "random.gguf");
        ModelForge.Forge(new ForgeOptions(chatTemplate is null ? shape : shape with { ChatTemplate = chatTemplate }, ForgeWeightType.Q8_0)
        {
            VocabPath = vocab,
            Seed = seed,
        }, Path, cancellationToken: cancellation);
    }

    public string Path { get; }

    public void Dispose()
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
