using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ModelRouter.Runtime.Chat;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Runtime.Tests.Chat;

/// <summary>
/// Tool calls through llama.cpp's common chat layer (libmr_common): a request rendered with tools yields the format's
/// grammar and parser, and model output in each family's tool-call syntax parses back into OpenAI tool calls. The
/// outputs and what they must parse to are llama.cpp's own: the cases of its tests/test-chat.cpp (line numbers below,
/// in the pinned tree), with its <c>special_function_tool</c> (test-chat.cpp:425).
/// </summary>
public sealed class ToolCallTests
{
    private const string SpecialFunctionTool = """
        [{"type": "function", "function": {"name": "special_function", "description": "I'm special",
          "parameters": {"type": "object", "properties": {"arg1": {"type": "integer", "description": "The arg."}}, "required": ["arg1"]}}}]
        """;

    private const string HermesCall = "<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}\n</tool_call>";

    public static TheoryData<string, string, string> FamilyCases => new()
    {
        // test-chat.cpp:3322 (Hermes 2 Pro)
        { "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}</tool_call>", "" },
        // test-chat.cpp:3330: content before the call
        { "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja", "Hello, world!\nWhat's up?<tool_call>\n{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}}</tool_call>", "Hello, world!\nWhat's up?" },
        // test-chat.cpp:6097 (MiMo-VL / Hermes 3 / Qwen 2.5)
        { "Qwen-Qwen2.5-7B-Instruct.jinja", HermesCall, "" },
        { "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", HermesCall, "" },
        { "MiMo-VL.jinja", HermesCall, "" },
        // test-chat.cpp:3401 (IBM Granite 4.0)
        { "ibm-granite-granite-4.0.jinja", HermesCall, "" },
        // test-chat.cpp:3546 (Qwen3-Coder's XML calls)
        { "Qwen3-Coder.jinja", "<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n</tool_call>", "" },
    };

    [Theory]
    [MemberData(nameof(FamilyCases))]
    public void Each_familys_tool_call_syntax_parses_into_an_OpenAI_tool_call(string file, string output, string content)
    {
        using var templates = Templates(file);
        var render = templates.RenderRequest(Request(tools: SpecialFunctionTool));
        Assert.NotNull(render.Grammar); // tools offered: the format constrains the call's syntax
        Assert.NotEmpty(render.GrammarTriggers); // "auto": free text until a call starts

        using var parser = render.CreateParser();
        var deltas = new List<ChatOutputDelta>();
        parser.Update(Encoding.UTF8.GetBytes(output), final: true, deltas);

        Assert.Null(parser.FormatError);
        Assert.Equal(1, parser.ToolCallCount);
        Assert.Equal(content, string.Concat(deltas.Where(d => d.Kind == ChatOutputDeltaKind.Content).Select(d => d.Text)));
        var call = Assert.Single(Calls(deltas));
        Assert.Equal("special_function", call.Name);
        Assert.StartsWith("call_", call.Id);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"arg1": 1}"""), JsonNode.Parse(call.Arguments)), call.Arguments);
    }

    public static TheoryData<string> Jinja2ToolCases => new(ToolReferences().GetProperty("cases").EnumerateArray().Select(c => c.GetProperty("file").GetString()!));

    /// <summary>
    /// Tools and an agent's turn (its call, the tool's result) rendered by real templates, byte for byte against Python's
    /// jinja2 as Hugging Face renders them (TestData/make_references.py): the request goes in as OpenAI sends it, with
    /// the call's arguments as JSON text.
    /// </summary>
    [Theory]
    [MemberData(nameof(Jinja2ToolCases))]
    public void Tools_and_an_agents_turn_render_what_jinja2_renders(string file)
    {
        var path = TestRepository.RequireLlamaFile(Path.Combine("models", "templates", file));
        CommonChatTemplatesTests.RequireCommon();
        var references = ToolReferences();
        var c = references.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("file").GetString() == file);
        var messages = JsonNode.Parse(references.GetProperty("conversation").GetRawText())!.AsArray();
        foreach (var call in messages.SelectMany(m => m!["tool_calls"]?.AsArray() ?? []))
        {
            var function = call!["function"]!;
            function["arguments"] = function["arguments"]!.ToJsonString(); // OpenAI's wire form: JSON text
        }

        var request = new JsonObject
        {
            ["messages"] = messages,
            ["tools"] = JsonNode.Parse(references.GetProperty("tools").GetRawText()),
            ["chat_template_kwargs"] = JsonNode.Parse(c.GetProperty("kwargs").GetRawText()),
        };
        using var templates = CommonChatTemplates.Parse(File.ReadAllText(path), c.GetProperty("bos").GetString(), c.GetProperty("eos").GetString());
        Assert.Equal(c.GetProperty("expected").GetString(), templates.RenderRequest(request.ToJsonString()).Prompt);
    }

    [Fact]
    public void A_call_id_the_model_writes_is_kept()
    {
        // test-chat.cpp:5907 (Mistral Nemo writes its own ids)
        using var templates = Templates("mistralai-Mistral-Nemo-Instruct-2407.jinja");
        using var parser = templates.RenderRequest(Request(tools: SpecialFunctionTool)).CreateParser();
        var deltas = new List<ChatOutputDelta>();
        parser.Update("[TOOL_CALLS][{\"name\": \"special_function\", \"arguments\": {\"arg1\": 1}, \"id\": \"123456789\"}]"u8, final: true, deltas);
        var call = Assert.Single(Calls(deltas));
        Assert.Equal("123456789", call.Id);
        Assert.Equal("special_function", call.Name);
    }

    [Fact]
    public void Streamed_byte_by_byte_the_call_comes_as_one_header_then_argument_pieces_that_join_to_the_whole()
    {
        using var templates = Templates("Qwen-Qwen2.5-7B-Instruct.jinja");
        using var parser = templates.RenderRequest(Request(tools: SpecialFunctionTool)).CreateParser();
        var deltas = new List<ChatOutputDelta>();
        var output = Encoding.UTF8.GetBytes("Let me check.\n" + HermesCall);
        for (var i = 0; i < output.Length; i++)
        {
            parser.Update(output.AsSpan(i, 1), final: false, deltas);
        }

        parser.Update([], final: true, deltas);

        var pieces = deltas.Where(d => d.Kind == ChatOutputDeltaKind.ToolCall).ToList();
        Assert.True(pieces.Count > 1, "arguments should stream in pieces");
        Assert.Equal("special_function", pieces[0].Name);
        Assert.NotNull(pieces[0].Id);
        Assert.All(pieces.Skip(1), p => Assert.Null(p.Name)); // the header goes out once
        Assert.All(pieces, p => Assert.Equal(0, p.Index));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"arg1": 1}"""), JsonNode.Parse(string.Concat(pieces.Select(p => p.Text)))));
        Assert.Equal("Let me check.", string.Concat(deltas.Where(d => d.Kind == ChatOutputDeltaKind.Content).Select(d => d.Text)).TrimEnd());
        Assert.DoesNotContain(deltas, d => d.Kind == ChatOutputDeltaKind.Content && d.Text.Contains("<tool_call>", StringComparison.Ordinal));
    }

    [Fact]
    public void An_output_cut_inside_a_call_keeps_the_call_and_says_its_arguments_are_incomplete()
    {
        using var templates = Templates("Qwen-Qwen2.5-7B-Instruct.jinja");
        using var parser = templates.RenderRequest(Request(tools: SpecialFunctionTool)).CreateParser();
        var deltas = new List<ChatOutputDelta>();
        const string cut = "<tool_call>\n{\"name\": \"special_function\", \"argu";
        parser.Update(Encoding.UTF8.GetBytes(cut), final: false, deltas);
        parser.Update([], final: true, deltas);
        Assert.Contains("not complete JSON", parser.FormatError, StringComparison.Ordinal);
        Assert.Equal("special_function", Assert.Single(Calls(deltas)).Name); // what was generated stays, as OpenAI's finish_reason "length"
    }

    [Fact]
    public void Output_that_breaks_the_format_after_a_call_reports_it_and_keeps_the_text()
    {
        using var templates = Templates("Qwen-Qwen2.5-7B-Instruct.jinja");
        using var parser = templates.RenderRequest(Request(tools: SpecialFunctionTool)).CreateParser();
        var deltas = new List<ChatOutputDelta>();
        parser.Update(Encoding.UTF8.GetBytes(HermesCall + "</tool_call> trailing"), final: true, deltas);
        Assert.Contains("does not match", parser.FormatError, StringComparison.Ordinal);
        Assert.Contains("trailing", string.Concat(deltas.Where(d => d.Kind == ChatOutputDeltaKind.Content).Select(d => d.Text)), StringComparison.Ordinal);
    }

    [Fact]
    public void Required_makes_the_grammar_apply_from_the_first_token_and_none_offers_no_grammar()
    {
        using var templates = Templates("Qwen-Qwen2.5-7B-Instruct.jinja");
        var required = templates.RenderRequest(Request(tools: SpecialFunctionTool, toolChoice: "required"));
        Assert.NotNull(required.Grammar);
        Assert.Empty(required.GrammarTriggers);
        Assert.Matches(@"(?m)^root ::= .* until-[0-9]+\? ", required.Grammar); // llama.cpp's: text may come before the call
        var callsOnly = required.GrammarFor(callsOnly: true, oneCall: false)!;
        Assert.DoesNotMatch(@"(?m)^root ::= .*until-", callsOnly); // ours for "the answer is a call"
        Assert.Matches(@"(?m)^tool-calls ::= \(.*\)\+$", callsOnly); // llama.cpp's: one call or more, parallel or not
        Assert.Matches(@"(?m)^tool-calls ::= [^(].*[^+]$", required.GrammarFor(callsOnly: true, oneCall: true)!);

        var none = templates.RenderRequest(Request(tools: SpecialFunctionTool, toolChoice: "none"));
        Assert.Null(none.Grammar);
    }

    [Fact]
    public void The_tools_reach_the_prompt_and_a_tool_result_renders_in_the_conversation()
    {
        using var templates = Templates("Qwen-Qwen2.5-7B-Instruct.jinja");
        const string messages = """
            [{"role": "user", "content": "Call it"},
             {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "special_function", "arguments": "{\"arg1\": 1}"}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "42"}]
            """;
        var render = templates.RenderRequest($$"""{"messages": {{messages}}, "tools": {{SpecialFunctionTool}}}""");
        Assert.Contains("special_function", render.Prompt, StringComparison.Ordinal);
        Assert.Contains("<tool_response>\n42\n</tool_response>", render.Prompt, StringComparison.Ordinal);
    }

    [Fact]
    public void An_unknown_tool_choice_is_a_clear_error()
    {
        using var templates = Templates("Qwen-Qwen2.5-7B-Instruct.jinja");
        var error = Assert.Throws<ChatTemplateException>(() => templates.RenderRequest(Request(tools: SpecialFunctionTool, toolChoice: "sometimes")));
        Assert.Contains("tool_choice", error.Message, StringComparison.Ordinal);
    }

    private static JsonElement ToolReferences() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(TestRepository.Root, "tests", "ModelRouter.Runtime.Tests", "Chat", "TestData", "jinja2-tool-references.json"))).RootElement;

    private static CommonChatTemplates Templates(string file)
    {
        var path = TestRepository.RequireLlamaFile(Path.Combine("models", "templates", file));
        CommonChatTemplatesTests.RequireCommon();
        return CommonChatTemplates.Parse(File.ReadAllText(path));
    }

    private static string Request(string tools, string toolChoice = "auto") =>
        $$"""{"messages": [{"role": "user", "content": "Hello"}], "tools": {{tools}}, "tool_choice": "{{toolChoice}}"}""";

    private static List<(string? Id, string? Name, string Arguments)> Calls(List<ChatOutputDelta> deltas) =>
        deltas.Where(d => d.Kind == ChatOutputDeltaKind.ToolCall)
            .GroupBy(d => d.Index)
            .Select(g => (g.First().Id, g.First().Name, string.Concat(g.Select(d => d.Text))))
            .ToList();
}
