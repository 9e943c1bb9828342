using System.Text;
using ModelRouter.Interop;
using ModelRouter.Runtime.Chat;
using ModelRouter.Runtime.Forge;
using ModelRouter.Runtime.Native;
using ModelRouter.Runtime.Tests.Gguf;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Runtime.Tests.Chat;

/// <summary>
/// Rendering through llama.cpp's built-in templates (exact strings, the growth of the output buffer, the errors),
/// reading a model's template from GGUF, and the real instruct templates the forge writes into every preset.
/// </summary>
public sealed class ChatTemplateTests
{
    private const string SystemText = "You are terse.";
    private const string UserText = "Hi";

    private const string ChatMlSystemUser =
        "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n";

    private const string ChatMlAssistantOpening = "<|im_start|>assistant\n";

    private const string Llama3SystemUser =
        "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>" +
        "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>";

    private const string Llama3AssistantOpening = "<|start_header_id|>assistant<|end_header_id|>\n\n";

    private static readonly ChatTurn[] SystemAndUser = [new("system", SystemText), new("user", UserText)];

    /// <summary>Each template and the family llama.cpp must render it as.</summary>
    public static TheoryData<string, string, bool> TemplatesAndFamilies => new()
    {
        { "chatml", "chatml", true },
        { "chatml", "chatml", false },
        { "llama3", "llama3", true },
        { "llama3", "llama3", false },
        { ForgeChatTemplates.Qwen25Instruct, "chatml", true },
        { ForgeChatTemplates.Qwen25Instruct, "chatml", false },
        { ForgeChatTemplates.Llama31Instruct, "llama3", true },
        { ForgeChatTemplates.Llama31Instruct, "llama3", false },
        { ForgeChatTemplates.Llama32Instruct, "llama3", true },
        { ForgeChatTemplates.Llama32Instruct, "llama3", false },
    };

    public static TheoryData<string> Presets => new(ForgePresets.Names);

    [Theory]
    [MemberData(nameof(TemplatesAndFamilies))]
    public void System_and_user_render_exactly_as_the_family_does(string template, string family, bool addGenerationPrompt)
    {
        RequireNative();
        var expected = family switch
        {
            "chatml" => ChatMlSystemUser + (addGenerationPrompt ? ChatMlAssistantOpening : string.Empty),
            "llama3" => Llama3SystemUser + (addGenerationPrompt ? Llama3AssistantOpening : string.Empty),
            _ => throw new ArgumentOutOfRangeException(nameof(family)),
        };

        Assert.Equal(expected, ChatTemplate.Render(template, SystemAndUser, addGenerationPrompt));
    }

    [Fact]
    public void Generation_prompt_is_added_by_default()
    {
        RequireNative();
        Assert.Equal(ChatMlSystemUser + ChatMlAssistantOpening, ChatTemplate.Render("chatml", SystemAndUser));
    }

    [Fact]
    public void Built_in_names_include_the_common_families_and_each_renders_the_user_text()
    {
        RequireNative();
        var names = ChatTemplate.BuiltInNames();
        Assert.Contains("chatml", names);
        Assert.Contains("llama3", names);
        Assert.Equal(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        Assert.Same(names, ChatTemplate.BuiltInNames());

        foreach (var name in names)
        {
            var rendered = ChatTemplate.Render(name, [new("system", SystemText), new("user", "marker-7731")]);
            Assert.True(rendered.Contains("marker-7731", StringComparison.Ordinal), $"built-in '{name}' lost the user's text: {rendered}");
        }
    }

    [Fact]
    public void Unknown_template_text_raises_a_clear_error_quoting_its_start()
    {
        RequireNative();
        var template = "{% for m in messages %}<<" + new string('x', 200) + ">>{% endfor %}";
        var ex = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Render(template, SystemAndUser));
        Assert.Contains("not one llama.cpp's built-in renderer recognises", ex.Message, StringComparison.Ordinal);
        Assert.Contains("\"" + template[..80] + "…\"", ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(template[..81], ex.Message, StringComparison.Ordinal);
        Assert.Contains("chatml", ex.Message, StringComparison.Ordinal);
        Assert.Contains("llama3", ex.Message, StringComparison.Ordinal);
        Assert.Equal(template[..80] + "…", ex.TemplateStart);
    }

    [Fact]
    public void Unknown_short_template_is_quoted_whole_with_line_breaks_escaped()
    {
        RequireNative();
        var ex = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Render("not a\ntemplate", SystemAndUser));
        Assert.Contains("\"not a\\ntemplate\"", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_arguments_are_refused_before_any_native_call_with_clear_messages()
    {
        var empty = Assert.Throws<ArgumentException>(() => ChatTemplate.Render("chatml", []));
        Assert.Contains("at least one turn", empty.Message, StringComparison.Ordinal);
        Assert.Equal("turns", empty.ParamName);

        var role = Assert.Throws<ArgumentException>(() => ChatTemplate.Render("chatml", [new("system", SystemText), new("", UserText)]));
        Assert.Contains("Turn 1 has an empty role", role.Message, StringComparison.Ordinal);

        var nullRole = Assert.Throws<ArgumentException>(() => ChatTemplate.Render("chatml", [default]));
        Assert.Contains("Turn 0 has an empty role", nullRole.Message, StringComparison.Ordinal);

        var nullContent = Assert.Throws<ArgumentException>(() => ChatTemplate.Render("chatml", [new("user", null!)]));
        Assert.Contains("null content", nullContent.Message, StringComparison.Ordinal);

        var nul = Assert.Throws<ArgumentException>(() => ChatTemplate.Render("chatml", [new("user", "a\0b")]));
        Assert.Contains("NUL", nul.Message, StringComparison.Ordinal);

        var nullTemplate = Assert.Throws<ArgumentNullException>(() => ChatTemplate.Render(null!, SystemAndUser));
        Assert.Contains("chat template is required", nullTemplate.Message, StringComparison.Ordinal);
        var emptyTemplate = Assert.Throws<ArgumentException>(() => ChatTemplate.Render(string.Empty, SystemAndUser));
        Assert.Contains("chat template is required", emptyTemplate.Message, StringComparison.Ordinal);
        Assert.Equal("template", emptyTemplate.ParamName);

        Assert.Throws<ArgumentNullException>(() => ChatTemplate.Render("chatml", null!));
    }

    [Fact]
    public void Non_ascii_text_round_trips_through_native_memory()
    {
        RequireNative();
        const string text = "Grüße — 你好, мир 🙂 ǅ";
        Assert.Equal(
            "<|im_start|>usér\n" + text + "<|im_end|>\n" + ChatMlAssistantOpening,
            ChatTemplate.Render("chatml", [new("usér", text)]));
    }

    [Fact]
    public void A_100_KB_message_renders_whole()
    {
        RequireNative();
        var content = BigText(100 * 1024);
        Assert.Equal(
            "<|im_start|>user\n" + content + "<|im_end|>\n" + ChatMlAssistantOpening,
            ChatTemplate.Render("chatml", [new("user", content)]));

        // llama3 trims each message: the same text with spaces around comes back without them.
        Assert.Equal(
            "<|start_header_id|>user<|end_header_id|>\n\n" + content + "<|eot_id|>" + Llama3AssistantOpening,
            ChatTemplate.Render(ForgeChatTemplates.Llama32Instruct, [new("user", "  " + content + "\n")]));
    }

    [Fact]
    public void Three_thousand_short_turns_render_whole()
    {
        RequireNative();
        var turns = Enumerable.Range(0, 3000).Select(i => new ChatTurn(i % 2 == 0 ? "user" : "assistant", i.ToString(global::System.Globalization.CultureInfo.InvariantCulture))).ToArray();
        var expected = new StringBuilder();
        foreach (var turn in turns)
        {
            expected.Append("<|start_header_id|>").Append(turn.Role).Append("<|end_header_id|>\n\n").Append(turn.Content).Append("<|eot_id|>");
        }

        Assert.Equal(expected.ToString(), ChatTemplate.Render("llama3", turns, addGenerationPrompt: false));
    }

    [Theory]
    [MemberData(nameof(Presets))]
    public void Every_preset_forges_its_release_template_and_it_renders(string preset)
    {
        Assert.True(ForgePresets.TryGet(preset, out var shape));
        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(shape.Architecture));
        RequireNative();
        var (expectedTemplate, family) = preset switch
        {
            _ when preset.StartsWith("qwen2.5-", StringComparison.Ordinal) => (ForgeChatTemplates.Qwen25Instruct, "chatml"),
            _ when preset.StartsWith("llama-3.1-", StringComparison.Ordinal) => (ForgeChatTemplates.Llama31Instruct, "llama3"),
            _ when preset.StartsWith("llama-3.2-", StringComparison.Ordinal) || preset == "tiny" => (ForgeChatTemplates.Llama32Instruct, "llama3"),
            _ => throw new InvalidOperationException($"Preset '{preset}' is new: name the release whose template it must carry."),
        };

        // The preset's metadata with a tiny body: the template comes from the shape, whatever its size.
        var small = shape with { Layers = 1, Width = 64, FeedForward = 128, Heads = 4, KvHeads = 2, ContextLength = 512 };
        using var dir = new TempDirectory("chat-forge");
        var path = dir.File(preset + ".gguf");
        ModelForge.Forge(new ForgeOptions(small, ForgeWeightType.Q4_0) { VocabPath = vocab }, path, cancellationToken: TestContext.Current.CancellationToken);

        var template = ChatTemplate.ReadFromGguf(path);
        Assert.Equal(expectedTemplate, template);
        var vocabTemplate = ChatTemplate.ReadFromGguf(vocab);
        Assert.True(vocabTemplate is null || vocabTemplate != template, "the vocabulary's own template must not replace the preset's");

        var expected = family == "chatml" ? ChatMlSystemUser + ChatMlAssistantOpening : Llama3SystemUser + Llama3AssistantOpening;
        Assert.Equal(expected, ChatTemplate.Render(template!, SystemAndUser));
    }

    [Fact]
    public unsafe void Llama_cpp_reads_the_forged_template_as_the_model_default()
    {
        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(ForgeArchitecture.Qwen2));
        RequireNative();
        Assert.True(ForgePresets.TryGet("tiny", out var tiny));
        using var dir = new TempDirectory("chat-forge");
        var path = dir.File("tiny-qwen2.gguf");
        ModelForge.Forge(new ForgeOptions(tiny with { Architecture = ForgeArchitecture.Qwen2 }, ForgeWeightType.Q8_0) { VocabPath = vocab }, path, cancellationToken: TestContext.Current.CancellationToken);

        var parameters = Llama.llama_model_default_params();
        parameters.n_gpu_layers = 0;
        parameters.vocab_only = true;
        llama_model* model;
        fixed (byte* utf8Path = Encoding.UTF8.GetBytes(path + "\0"))
        {
            model = Llama.llama_model_load_from_file((sbyte*)utf8Path, parameters);
        }

        Assert.True(model != null, $"llama.cpp did not load {path}");
        try
        {
            Assert.Equal(ForgeChatTemplates.Qwen25Instruct, NativeString(Llama.llama_model_chat_template(model, null)));
        }
        finally
        {
            Llama.llama_model_free(model);
        }
    }

    [Fact]
    public void An_empty_template_on_the_shape_forges_a_file_without_one()
    {
        var vocab = GgufTestFiles.RequireVocab(VocabLocator.DefaultFileName(ForgeArchitecture.Llama));
        Assert.True(ForgePresets.TryGet("tiny", out var tiny));
        using var dir = new TempDirectory("chat-forge");
        var path = dir.File("no-template.gguf");
        ModelForge.Forge(new ForgeOptions(tiny with { ChatTemplate = string.Empty }, ForgeWeightType.Q4_0) { VocabPath = vocab }, path, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Null(ChatTemplate.ReadFromGguf(path));
    }

    [Theory]
    [InlineData("Qwen-Qwen2.5-7B-Instruct.jinja")]
    [InlineData("meta-llama-Llama-3.1-8B-Instruct.jinja")]
    [InlineData("meta-llama-Llama-3.2-3B-Instruct.jinja")]
    public void Forge_templates_are_the_published_text_byte_for_byte(string file)
    {
        var published = File.ReadAllText(TestRepository.RequireLlamaFile(Path.Combine("models", "templates", file)));
        var ours = file switch
        {
            "Qwen-Qwen2.5-7B-Instruct.jinja" => ForgeChatTemplates.Qwen25Instruct,
            "meta-llama-Llama-3.1-8B-Instruct.jinja" => ForgeChatTemplates.Llama31Instruct,
            _ => ForgeChatTemplates.Llama32Instruct,
        };

        Assert.Equal(published, ours);
    }

    [Fact]
    public void A_model_without_a_template_reads_as_null()
    {
        var path = TestRepository.RequireShared("models", "stories260K.gguf", "it is the model without a chat template");
        Assert.Null(ChatTemplate.ReadFromGguf(path));
    }

    [Fact]
    public void Missing_and_corrupt_files_raise_the_gguf_readers_error()
    {
        using var dir = new TempDirectory("chat-gguf");
        var missing = dir.File("absent.gguf");
        var ex = Assert.Throws<InvalidModelFileException>(() => ChatTemplate.ReadFromGguf(missing));
        Assert.Equal(missing, ex.FilePath);
        Assert.Contains("does not exist", ex.Message, StringComparison.Ordinal);

        var corrupt = dir.File("corrupt.gguf");
        File.WriteAllBytes(corrupt, Encoding.ASCII.GetBytes("GGUF but not really a model file at all"));
        var bad = Assert.Throws<InvalidModelFileException>(() => ChatTemplate.ReadFromGguf(corrupt));
        Assert.Equal(corrupt, bad.FilePath);

        Assert.ThrowsAny<ArgumentException>(() => ChatTemplate.ReadFromGguf(string.Empty));
    }

    /// <summary>Mixed one- to four-byte UTF-8 text of exactly <paramref name="bytes"/> bytes, with no edge whitespace.</summary>
    private static string BigText(int bytes)
    {
        var builder = new StringBuilder();
        var count = 0;
        string[] pieces = ["abc ", "ß", "你", "🙂", "\n"];
        for (var i = 0; count + 4 < bytes; i++)
        {
            var piece = pieces[i % pieces.Length];
            builder.Append(piece);
            count += Encoding.UTF8.GetByteCount(piece);
        }

        builder.Append('z', bytes - count);
        return builder.ToString();
    }

    private static unsafe string? NativeString(sbyte* value) =>
        value == null ? null : global::System.Runtime.InteropServices.Marshal.PtrToStringUTF8((nint)value);

    private static void RequireNative()
    {
        try
        {
            NativeRuntime.EnsureInitialized();
        }
        catch (NativeLibraryLoadException ex)
        {
            Assert.Skip("Native libraries are not built (./build.sh native): " + ex.Message);
        }
    }
}
