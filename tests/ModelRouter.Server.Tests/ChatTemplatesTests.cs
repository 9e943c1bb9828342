using Microsoft.Extensions.Logging;
using ModelRouter.Runtime.Chat;
using ModelRouter.Server.Options;
using ModelRouter.Server.Requests;
using ModelRouter.Server.Scheduling;

namespace ModelRouter.Server.Tests;

/// <summary>
/// The server's choice of renderer: a template text goes through llama.cpp's common chat layer (Jinja); a built-in
/// name, and a text the common layer refuses (with a logged reason), through llama_chat_apply_template.
/// stories260K carries no template, so each test names one in the catalog.
/// </summary>
public sealed class ChatTemplatesTests
{
    // Renders a family llama_chat_apply_template does not know: only Jinja can render it.
    private const string BracketTemplate =
        "{{ bos_token }}{% for m in messages %}[{{ m.role | upper }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[ASSISTANT] {% endif %}";

    private static readonly ChatTurn[] Chat = [new("system", "Be brief."), new("user", "Hi")];

    [Fact]
    public void A_template_text_renders_through_the_common_layer_and_drops_the_bos_the_tokenizer_adds()
    {
        using var models = TestModels.Create(1);
        using var templates = new ChatTemplates(Catalog(models, BracketTemplate));

        Assert.True(templates.UsesCommonLayer("m0"));
        // stories260K's BOS is "<s>" and its tokenizer adds it: the template's own copy would be a second one.
        Assert.Equal("[SYSTEM] Be brief.\n[USER] Hi\n[ASSISTANT] ", templates.Render("m0", Chat));
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Render(BracketTemplate, Chat));
    }

    [Fact]
    public void A_built_in_name_renders_with_llamas_built_in_family()
    {
        using var models = TestModels.Create(1);
        using var templates = new ChatTemplates(Catalog(models, "llama3"));

        Assert.False(templates.UsesCommonLayer("m0"));
        Assert.Equal(ChatTemplate.Render("llama3", Chat), templates.Render("m0", Chat));
    }

    [Fact]
    public void A_template_the_common_layer_refuses_falls_back_with_a_warning_that_says_why()
    {
        using var models = TestModels.Create(1);
        var log = new ListLogger();
        // Not valid Jinja (an unclosed tag), but its ChatML marker is enough for llama.cpp's built-in matcher.
        const string Broken = "<|im_start|>{% for m in messages %}{{ m.content }";
        using var templates = new ChatTemplates(Catalog(models, Broken), log);

        Assert.Equal(ChatTemplate.Render("chatml", Chat), templates.Render("m0", Chat));
        Assert.False(templates.UsesCommonLayer("m0"));
        var warning = Assert.Single(log.Entries);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal(2015, warning.EventId);
        Assert.Contains("Model m0:", warning.Message, StringComparison.Ordinal);
        Assert.Contains("refuses the template", warning.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_template_that_parses_but_renders_no_chat_at_all_falls_back_too()
    {
        using var models = TestModels.Create(1);
        var log = new ListLogger();
        const string AlwaysRaises = "<|im_start|>{{ raise_exception('this template renders nothing') }}";
        using var templates = new ChatTemplates(Catalog(models, AlwaysRaises), log);

        Assert.Equal(ChatTemplate.Render("chatml", Chat), templates.Render("m0", Chat));
        Assert.Contains("this template renders nothing", Assert.Single(log.Entries).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_template_that_raises_for_the_conversation_is_an_invalid_argument_naming_the_model()
    {
        using var models = TestModels.Create(1);
        const string Alternating = "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate') }}{% endif %}{{ m.content }}{% endfor %}";
        using var templates = new ChatTemplates(Catalog(models, Alternating));

        var ex = Assert.Throws<RequestException>(() => templates.Render("m0", [new("user", "a"), new("user", "b")]));
        Assert.Equal(RequestError.InvalidArgument, ex.Error);
        Assert.Contains("model 'm0'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("Conversation roles must alternate", ex.Message, StringComparison.Ordinal);

        // The same model still renders a good chat afterwards.
        Assert.Equal("ab", templates.Render("m0", [new("user", "a"), new("assistant", "b")]));
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_chat_through_the_pipeline_generates_what_its_jinja_rendered_prompt_generates()
    {
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1, "--ModelRouter:Models:0:ChatTemplate=" + BracketTemplate);
        var pipeline = (RequestPipeline)server.Services.GetService(typeof(RequestPipeline))!;

        var chat = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Messages = Chat, MaxTokens = 12, Temperature = 0 });
        var raw = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Prompt = "[SYSTEM] Be brief.\n[USER] Hi\n[ASSISTANT] ", MaxTokens = 12, Temperature = 0 });

        Assert.Equal(GenerationEventKind.Completed, chat.End.Kind);
        Assert.Equal(raw.Text, chat.Text);
        Assert.Equal(raw.End.Done!.PromptTokens, chat.End.Done!.PromptTokens);
    }

    [Fact(Timeout = TestTimeouts.LiveServerMs)]
    public async Task A_rendered_chats_special_tokens_are_parsed_while_a_raw_prompt_stays_text()
    {
        // "</s>" is the vocabulary's end-of-sequence token: one token in a rendered chat (as llama-server tokenizes a
        // chat), text pieces in a raw prompt.
        using var models = TestModels.Create(1);
        await using var server = await TestServer.StartAsync(models, residentModels: 1,
            "--ModelRouter:Models:0:ChatTemplate={% for m in messages %}</s>{{ m['content'] }}{% endfor %}");
        var pipeline = (RequestPipeline)server.Services.GetService(typeof(RequestPipeline))!;

        var chat = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Messages = [new("user", "Hi")], MaxTokens = 1, Temperature = 0 });
        var raw = await RunAsync(pipeline, new GenerationCommand { Model = "m0", Prompt = "</s>Hi", MaxTokens = 1, Temperature = 0 });

        Assert.Equal(GenerationEventKind.Completed, chat.End.Kind);
        Assert.True(chat.End.Done!.PromptTokens < raw.End.Done!.PromptTokens,
            $"chat {chat.End.Done.PromptTokens} prompt tokens, raw {raw.End.Done!.PromptTokens}: the chat's </s> should be one token");
    }

    private static Dictionary<string, CatalogModelOptions> Catalog(TestModels models, string template) =>
        new(StringComparer.Ordinal) { ["m0"] = new CatalogModelOptions { Name = "m0", Path = models.Paths[0], ChatTemplate = template } };

    private static async Task<(string Text, GenerationEvent End)> RunAsync(RequestPipeline pipeline, GenerationCommand command)
    {
        using var results = new GenerationResults();
        pipeline.StartGeneration(command, results, results.Cancellation);
        var (text, _, end) = await results.ReadToEndAsync(TestContext.Current.CancellationToken);
        return (text, end);
    }

    private sealed class ListLogger : ILogger
    {
        public List<(LogLevel Level, int EventId, string Message)> Entries { get; } = [];

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            lock (Entries)
            {
                Entries.Add((logLevel, eventId.Id, formatter(state, exception)));
            }
        }
    }
}
