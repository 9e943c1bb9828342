using System.Text.Json;
using ModelRouter.Cli.Benchmarks.Chat;

namespace ModelRouter.Cli.Tests.Benchmarks.Chat;

public sealed class ChatStreamReaderTests
{
    [Fact]
    public void Content_deltas_are_token_events_and_the_usage_chunk_gives_the_counts()
    {
        var reader = new ChatStreamReader();
        string[] lines =
        [
            """data: {"choices":[{"index":0,"delta":{"role":"assistant"}}]}""", "",
            """data: {"choices":[{"index":0,"delta":{"content":"Hello"}}]}""", "",
            ": keep-alive comment",
            """data: {"choices":[{"index":0,"delta":{"content":" there"}}]}""", "",
            """data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}""", "",
            """data: {"choices":[],"usage":{"prompt_tokens":812,"completion_tokens":32,"total_tokens":844,"prompt_tokens_details":{"cached_tokens":700}}}""", "",
        ];

        var tokenEvents = lines.Select(reader.Read).ToList();

        Assert.Equal([false, false, true, false, false, true, false, false, false, false, false], tokenEvents);
        Assert.False(reader.Done);
        Assert.False(reader.Read("data: [DONE]"));
        Assert.True(reader.Done);
        Assert.Equal("Hello there", reader.Content);
        Assert.Equal(812, reader.PromptTokens);
        Assert.Equal(700, reader.CachedTokens);
        Assert.Equal(32, reader.CompletionTokens);
    }

    [Fact]
    public void Usage_without_details_leaves_cached_unknown()
    {
        var reader = new ChatStreamReader();
        reader.Read("""data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1}}""");

        Assert.Equal(5, reader.PromptTokens);
        Assert.Null(reader.CachedTokens);
    }

    [Fact]
    public void An_error_event_fails_with_its_text()
    {
        var reader = new ChatStreamReader();

        var ex = Assert.Throws<InvalidOperationException>(() => reader.Read("""data: {"error":{"message":"model unavailable","code":"model_unavailable"}}"""));
        Assert.Contains("model unavailable", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_data_line_that_is_not_json_fails()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => new ChatStreamReader().Read("data: {not json"));
        Assert.IsAssignableFrom<JsonException>(ex.InnerException);
    }

    [Fact]
    public void The_request_is_greedy_streamed_with_usage_and_carries_the_messages()
    {
        using var body = JsonDocument.Parse(ChatStreamClient.Body("chat", [new ChatMessage("user", "hi"), new ChatMessage("assistant", "ho")], 32));
        var root = body.RootElement;

        Assert.Equal("chat", root.GetProperty("model").GetString());
        Assert.Equal(0, root.GetProperty("temperature").GetDouble());
        Assert.Equal(32, root.GetProperty("max_tokens").GetInt32());
        Assert.True(root.GetProperty("stream").GetBoolean());
        Assert.True(root.GetProperty("stream_options").GetProperty("include_usage").GetBoolean());
        Assert.Equal(["user:hi", "assistant:ho"], root.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("role").GetString() + ":" + m.GetProperty("content").GetString()));
    }
}
