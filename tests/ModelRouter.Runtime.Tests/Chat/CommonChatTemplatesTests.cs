using System.Text.Json;
using ModelRouter.Interop;
using ModelRouter.Runtime.Chat;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Tests.Gguf;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Runtime.Tests.Chat;

/// <summary>
/// Rendering with llama.cpp's common chat layer (Jinja) through libmr_common, checked byte for byte against references
/// that are not that layer run by us: the prompts llama.cpp's own tests/test-chat-template.cpp asserts, and real
/// models/templates/*.jinja rendered by Python's jinja2 as Hugging Face renders them (TestData/make_references.py
/// wrote both files; its header says how).
/// </summary>
public sealed class CommonChatTemplatesTests
{
    // The conversation of test-chat-template.cpp's main_automated_tests (tests/test-chat-template.cpp:364-371).
    private static readonly ChatTurn[] LlamaCppConversation =
    [
        new("system", "You are a helpful assistant"),
        new("user", "Hello"),
        new("assistant", "Hi there"),
        new("user", "Who are you"),
        new("assistant", "   I am an assistant   "),
        new("user", "Another question"),
    ];

    private static readonly string DataDir = Path.Combine(TestRepository.Root, "tests", "ModelRouter.Runtime.Tests", "Chat", "TestData");

    public static TheoryData<string> LlamaCppCases => new(Cases("llama-cpp-test-cases.json").Select(c => c.GetProperty("name").GetString()!));

    public static TheoryData<string, bool> Jinja2Cases
    {
        get
        {
            var data = new TheoryData<string, bool>();
            foreach (var c in Jinja2References().GetProperty("cases").EnumerateArray())
            {
                data.Add(c.GetProperty("file").GetString()!, c.GetProperty("addGenerationPrompt").GetBoolean());
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(LlamaCppCases))]
    public void Renders_what_llama_cpps_own_template_test_expects(string name)
    {
        RequireCommon();
        var c = Cases("llama-cpp-test-cases.json").Single(x => x.GetProperty("name").GetString() == name);
        using var templates = CommonChatTemplates.Parse(c.GetProperty("template").GetString()!, c.GetProperty("bos").GetString(), c.GetProperty("eos").GetString());
        Assert.Equal(c.GetProperty("expected").GetString(), templates.Render(LlamaCppConversation));
    }

    [Theory]
    [MemberData(nameof(Jinja2Cases))]
    public void Real_model_templates_render_what_jinja2_renders(string file, bool addGenerationPrompt)
    {
        var path = TestRepository.RequireLlamaFile(Path.Combine("models", "templates", file));
        RequireCommon();
        var references = Jinja2References();
        var c = references.GetProperty("cases").EnumerateArray()
            .Single(x => x.GetProperty("file").GetString() == file && x.GetProperty("addGenerationPrompt").GetBoolean() == addGenerationPrompt);
        var turns = references.GetProperty("conversation").EnumerateArray()
            .Select(m => new ChatTurn(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!))
            .Where(t => c.GetProperty("system").GetBoolean() || t.Role != "system")
            .ToArray();

        using var templates = CommonChatTemplates.Parse(File.ReadAllText(path), c.GetProperty("bos").GetString(), c.GetProperty("eos").GetString());
        var rendered = templates.Render(turns, addGenerationPrompt, c.GetProperty("kwargs").GetRawText());
        Assert.Equal(c.GetProperty("expected").GetString(), rendered);
    }

    [Fact]
    public void The_jinja_layer_renders_what_the_built_in_renderer_cannot()
    {
        RequireCommon();
        // No built-in family matches this template: llama_chat_apply_template refuses it, Jinja renders it.
        const string Template = "{% for m in messages %}[{{ m.role | upper }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[ASSISTANT] {% endif %}";
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Render(Template, LlamaCppConversation[..2]));
        using var templates = CommonChatTemplates.Parse(Template);
        Assert.Equal("[SYSTEM] You are a helpful assistant\n[USER] Hello\n[ASSISTANT] ", templates.Render(LlamaCppConversation[..2]));
    }

    [Fact]
    public void A_leading_bos_and_trailing_eos_are_dropped_only_when_asked()
    {
        RequireCommon();
        const string Template = "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}{{ eos_token }}";
        ChatTurn[] turns = [new("user", "x")];
        using (var keep = CommonChatTemplates.Parse(Template, "<s>", "</s>"))
        {
            Assert.Equal("<s>x</s>", keep.Render(turns));
        }

        using var strip = CommonChatTemplates.Parse(Template, "<s>", "</s>", stripBos: true, stripEos: true);
        Assert.Equal("x", strip.Render(turns));
    }

    [Fact]
    public void A_template_that_does_not_parse_is_refused_with_jinjas_reason()
    {
        RequireCommon();
        var ex = Assert.Throws<ChatTemplateException>(() => CommonChatTemplates.Parse("{% for m in messages %}{{ m.content }"));
        Assert.Contains("refuses the template", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', ex.Message);
        // The parser's own reason, not the bare std::exception that common_chat_templates_init rethrows.
        Assert.DoesNotContain("std::exception", ex.Message, StringComparison.Ordinal);

        // The process is healthy afterwards: the next template parses and renders.
        using var templates = CommonChatTemplates.Parse("chatml");
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", templates.Render([new("user", "Hi")]));
    }

    [Fact]
    public void A_template_that_raises_for_a_conversation_is_a_chat_template_exception()
    {
        RequireCommon();
        const string Template = "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}";
        using var templates = CommonChatTemplates.Parse(Template);
        // llama.cpp folds a system message into the first user turn, joined by one newline, for a template that
        // refuses the role (as test-chat-template.cpp:417's gemma-7b-it case expects: "You are a helpful assistant\nHello").
        Assert.Equal("A\nB", templates.Render([new("system", "A"), new("user", "B")]));

        const string Alternating = "{% for m in messages %}{% if (m.role == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate') }}{% endif %}{{ m.content }}{% endfor %}";
        using var alternating = CommonChatTemplates.Parse(Alternating);
        var ex = Assert.Throws<ChatTemplateException>(() => alternating.Render([new("user", "a"), new("user", "b")]));
        Assert.Contains("Conversation roles must alternate", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_json_and_bad_arguments_are_clear_errors()
    {
        RequireCommon();
        using var templates = CommonChatTemplates.Parse("chatml");
        Assert.Throws<ChatTemplateException>(() => templates.Apply("[{\"role\": "));
        var kwargs = Assert.Throws<ChatTemplateException>(() => templates.Apply("""[{"role":"user","content":"x"}]""", templateKwargsJson: "[1]"));
        Assert.Contains("kwargs must be a JSON object", kwargs.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => templates.Render([]));
        Assert.Throws<ArgumentException>(() => templates.Render([new("user", "a\0b")]));
        Assert.Throws<ArgumentException>(() => CommonChatTemplates.Parse(string.Empty));
        var nul = Assert.Throws<ChatTemplateException>(() => templates.Apply("[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]"));
        Assert.Contains("NUL", nul.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Kwargs_reach_the_template_and_messages_json_escapes_content()
    {
        RequireCommon();
        using var templates = CommonChatTemplates.Parse("{{ greeting }}{% for m in messages %}{{ m.content }}{% endfor %}");
        Assert.Equal("hey \"quoted\"\n\\ é", templates.Render([new("user", "\"quoted\"\n\\ é")], templateKwargsJson: """{"greeting": "hey "}"""));
    }

    [Fact]
    public void One_instance_renders_on_many_threads_at_once()
    {
        var path = TestRepository.RequireLlamaFile(Path.Combine("models", "templates", "Qwen-Qwen2.5-7B-Instruct.jinja"));
        RequireCommon();
        using var templates = CommonChatTemplates.Parse(File.ReadAllText(path), eosToken: "<|im_end|>");
        var expected = templates.Render(LlamaCppConversation);
        var results = new string[64];
        Parallel.For(0, results.Length, new ParallelOptions { MaxDegreeOfParallelism = 8 }, i => results[i] = templates.Render(LlamaCppConversation));
        Assert.All(results, r => Assert.Equal(expected, r));
    }

    [Fact]
    public void A_disposed_instance_refuses_new_renders()
    {
        RequireCommon();
        var templates = CommonChatTemplates.Parse("chatml");
        templates.Dispose();
        Assert.Throws<ObjectDisposedException>(() => templates.Render([new("user", "x")]));
    }

    [Fact]
    public void Reading_a_forged_llama_model_gives_its_template_and_bos_text()
    {
        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(ForgeArchitecture.Llama));
        RequireCommon();
        Assert.True(ForgePresets.TryGet("tiny", out var tiny));
        using var dir = new TempDirectory("common-chat");
        var path = dir.File("tiny.gguf");
        ModelForge.Forge(new ForgeOptions(tiny, ForgeWeightType.Q4_0) { VocabPath = vocab }, path, cancellationToken: TestContext.Current.CancellationToken);

        var source = CommonChatTemplates.ReadFromGguf(path);
        Assert.Equal(ForgeChatTemplates.Llama32Instruct, source.Template);
        Assert.Equal("<|begin_of_text|>", source.BosToken);
        using var templates = CommonChatTemplates.Parse(source.Template!, source.BosToken, source.EosToken, source.AddsBos, source.AddsEos);
        var prompt = templates.Render([new("user", "Hi")], templateKwargsJson: """{"date_string": "26 Jul 2024"}""");
        Assert.Equal(
            "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|>" +
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            prompt);
    }

    private static JsonElement[] Cases(string file) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(DataDir, file))).RootElement.EnumerateArray().ToArray();

    private static JsonElement Jinja2References() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(DataDir, "jinja2-references.json"))).RootElement;

    internal static void RequireCommon()
    {
        try
        {
            NativeRuntime.EnsureInitialized();
            _ = MrCommon.mr_common_abi_version();
        }
        catch (NativeLibraryLoadException ex)
        {
            Assert.Skip("Native libraries are not built (./build.sh native): " + ex.Message);
        }
        catch (DllNotFoundException ex)
        {
            Assert.Skip("libmr_common is not built (./build.sh native): " + ex.Message);
        }
    }
}
