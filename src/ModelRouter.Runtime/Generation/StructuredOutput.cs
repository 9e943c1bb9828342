using System.Text;
using System.Text.Json;
using ModelRouter.Interop;
using ModelRouter.Runtime.Native;

namespace ModelRouter.Runtime.Generation;

/// <summary>What a <see cref="StructuredOutput"/> was built from.</summary>
public enum StructuredOutputKind
{
    /// <summary>Any JSON object (OpenAI's <c>response_format: {"type": "json_object"}</c>).</summary>
    JsonObject,

    /// <summary>A JSON Schema, converted to GBNF by llama.cpp's own <c>json_schema_to_grammar</c>.</summary>
    JsonSchema,

    /// <summary>A GBNF grammar given as is (llama-server's <c>grammar</c> field).</summary>
    Grammar,
}

/// <summary>
/// A constraint on generated text, as the GBNF grammar llama.cpp's grammar sampler enforces (put it in
/// <see cref="SamplingParameters.Grammar"/>). Schemas go through llama.cpp's converter in its common library (through
/// libmr_common), never a converter of ours, so what is accepted and how is exactly llama-server's. Building one
/// checks it: a schema the converter rejects or a grammar llama.cpp cannot parse is a
/// <see cref="StructuredOutputException"/>, before any model is involved.
/// </summary>
public sealed class StructuredOutput
{
    /// <summary>Largest schema or grammar text accepted, in UTF-8 bytes (llama.cpp echoes a bad grammar to its log).</summary>
    public const int MaxSourceBytes = 256 * 1024;

    // llama-server's reading of json_object and of an empty schema: any object (the converter's `{}` is any value).
    private const string AnyObjectSchema = """{"type":"object"}""";

    private static readonly Lazy<StructuredOutput> AnyObject = new(() => Convert(StructuredOutputKind.JsonObject, AnyObjectSchema));

    private StructuredOutput(StructuredOutputKind kind, string source, string grammar)
    {
        Kind = kind;
        Source = source;
        Grammar = grammar;
    }

    public StructuredOutputKind Kind { get; }

    /// <summary>The schema (JSON text) or grammar as given; for <see cref="StructuredOutputKind.JsonObject"/> its schema.</summary>
    public string Source { get; }

    /// <summary>The GBNF grammar (start rule <c>root</c>) the sampler enforces.</summary>
    public string Grammar { get; }

    /// <summary>Any JSON object.</summary>
    public static StructuredOutput JsonObject() => AnyObject.Value;

    /// <summary>Output valid against <paramref name="schemaJson"/> (JSON Schema as llama.cpp's converter reads it).</summary>
    /// <exception cref="StructuredOutputException">Not JSON, not a schema object, too large, or rejected by the converter.</exception>
    /// <exception cref="NativeLibraryLoadException">The native build has no libmr_common (built before it existed).</exception>
    public static StructuredOutput FromJsonSchema(string schemaJson)
    {
        ArgumentNullException.ThrowIfNull(schemaJson);
        CheckSize(schemaJson, "JSON schema");
        try
        {
            using var document = JsonDocument.Parse(schemaJson);
            var root = document.RootElement;
            if (root.ValueKind is not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False))
            {
                throw new StructuredOutputException($"a JSON schema must be an object (or true/false), not {root.ValueKind.ToString().ToLowerInvariant()}");
            }

            if (root.ValueKind == JsonValueKind.Object && !root.EnumerateObject().Any())
            {
                return Convert(StructuredOutputKind.JsonSchema, AnyObjectSchema);
            }
        }
        catch (JsonException ex)
        {
            throw new StructuredOutputException("the JSON schema is not valid JSON: " + ex.Message, ex);
        }

        return Convert(StructuredOutputKind.JsonSchema, schemaJson);
    }

    /// <summary>Output in the language of <paramref name="gbnf"/> (start rule <c>root</c>).</summary>
    /// <exception cref="StructuredOutputException">Empty, too large, or not a grammar llama.cpp can parse.</exception>
    /// <exception cref="NativeLibraryLoadException">The native build has no libmr_common (built before it existed).</exception>
    public static unsafe StructuredOutput FromGrammar(string gbnf)
    {
        ArgumentNullException.ThrowIfNull(gbnf);
        if (string.IsNullOrWhiteSpace(gbnf))
        {
            throw new StructuredOutputException("the grammar is empty");
        }

        CheckSize(gbnf, "grammar");
        if (gbnf.Contains('\0', StringComparison.Ordinal))
        {
            throw new StructuredOutputException("the grammar contains a NUL character");
        }

        // Parsed once without a vocabulary: syntax, undefined rules, a missing root and left recursion are all found
        // here. (A <token> literal needs the model's vocabulary and is refused; <[id]> token ids are fine.)
        NativeRuntime.EnsureInitialized();
        CheckCommonAbi(); // the sampler's grammar gate lives in libmr_common: refuse now rather than in the worker
        NativeLog.ClearRecentErrors();
        var sampler = CreateGrammarSampler(null, gbnf);
        if (sampler == null)
        {
            throw new StructuredOutputException(GrammarFailure("the grammar is not valid GBNF"));
        }

        Llama.llama_sampler_free(sampler);
        return new StructuredOutput(StructuredOutputKind.Grammar, gbnf, gbnf);
    }

    /// <summary>llama.cpp's grammar sampler for <paramref name="gbnf"/>, or null when it does not parse.</summary>
    internal static unsafe llama_sampler* CreateGrammarSampler(llama_vocab* vocab, string gbnf)
    {
        var text = NativeStrings.Allocate(gbnf);
        var root = "root\0"u8; // NUL-terminated for C
        try
        {
            fixed (byte* rootName = root)
            {
                return Llama.llama_sampler_init_grammar(vocab, (sbyte*)text, (sbyte*)rootName);
            }
        }
        finally
        {
            System.Runtime.InteropServices.NativeMemory.Free(text);
        }
    }

    /// <summary>Why llama.cpp refused a grammar: <paramref name="summary"/> plus the error lines it logged on this thread.</summary>
    internal static string GrammarFailure(string summary) =>
        NativeLog.TakeRecentErrors() is { } detail ? $"{summary} (llama.cpp: {detail})" : summary;

    private static unsafe StructuredOutput Convert(StructuredOutputKind kind, string schemaJson)
    {
        NativeRuntime.EnsureInitialized();
        CheckCommonAbi();
        var text = NativeStrings.Allocate(schemaJson);
        sbyte* grammar = null;
        try
        {
            var status = MrCommon.mr_json_schema_to_grammar((sbyte*)text, &grammar);
            if (status != mr_status.MR_STATUS_OK)
            {
                var why = NativeStrings.Read(MrShim.mr_last_error()) is { Length: > 0 } detail ? detail : NativeStrings.Read(MrShim.mr_status_string(status));
                if (status == mr_status.MR_STATUS_OUT_OF_MEMORY)
                {
                    throw new InvalidOperationException("llama.cpp's JSON schema converter ran out of memory: " + why);
                }

                // One line: the converter joins its reasons with newlines, and the doors put this in one error message.
                throw new StructuredOutputException("the JSON schema cannot be converted to a grammar: " + why?.ReplaceLineEndings(" "));
            }

            return new StructuredOutput(kind, schemaJson, NativeStrings.Read(grammar)!);
        }
        finally
        {
            MrCommon.mr_common_string_free(grammar);
            System.Runtime.InteropServices.NativeMemory.Free(text);
        }
    }

    private static int commonAbiChecked;

    /// <summary>
    /// Refuses a libmr_common built from another mr_common.h than the bindings (once per process); every structured
    /// output needs it (the converter, and the grammar gate the sampler runs).
    /// </summary>
    internal static void CheckCommonAbi()
    {
        if (Volatile.Read(ref commonAbiChecked) != 0)
        {
            return;
        }

        var version = MrCommon.mr_common_abi_version();
        if (version != MrCommon.MR_COMMON_ABI_VERSION)
        {
            var path = Path.Combine(NativeLibraryLoader.EnsureLoaded().Directory, NativeLibraryNames.FileName(NativeLibraryNames.Common));
            throw new NativeLibraryLoadException(NativeLibraryNames.Common,
                [new NativeLibraryLoadAttempt(path, $"ABI version {version}, but the bindings expect {MrCommon.MR_COMMON_ABI_VERSION}: rebuild it (./build.sh native)")]);
        }

        Volatile.Write(ref commonAbiChecked, 1);
    }

    private static void CheckSize(string text, string what)
    {
        var bytes = Encoding.UTF8.GetByteCount(text);
        if (bytes > MaxSourceBytes)
        {
            throw new StructuredOutputException($"the {what} is {bytes} bytes; at most {MaxSourceBytes} are accepted");
        }
    }
}
