using System.Globalization;
using ModelRouter.Runtime.Chat;
using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Forge;

/// <summary>
/// The metadata of a forged model: the keys llama.cpp's loader reads for llama and qwen2 (names from
/// llama-arch.cpp, types as its typed getters require: counts UInt32, rope and epsilon Float32) and the
/// tokenizer copied verbatim from a vocabulary GGUF, except its chat template: the shape's is written instead.
/// </summary>
internal static class ForgeMetadata
{
    public const string TokenizerPrefix = "tokenizer.";

    public static void Write(GgufWriter writer, ForgeOptions options, GgufFile vocab, int vocabulary)
    {
        var shape = options.Shape;
        var arch = shape.Architecture.ToGgufName();
        writer.AddString("general.architecture", arch);
        writer.AddString("general.name", options.Name ?? DefaultName(options));
        writer.AddString("general.description", string.Format(
            CultureInfo.InvariantCulture,
            "Synthetic {0} model forged by ModelRouter (seed {1}): random weights, not a trained model.",
            arch, options.Seed));
        writer.AddUInt32("general.file_type", options.WeightType.FileType());
        writer.AddUInt32("general.quantization_version", 2);

        writer.AddUInt32(arch + ".vocab_size", (uint)vocabulary);
        writer.AddUInt32(arch + ".context_length", (uint)shape.ContextLength);
        writer.AddUInt32(arch + ".embedding_length", (uint)shape.Width);
        writer.AddUInt32(arch + ".block_count", (uint)shape.Layers);
        writer.AddUInt32(arch + ".feed_forward_length", (uint)shape.FeedForward);
        writer.AddUInt32(arch + ".attention.head_count", (uint)shape.Heads);
        writer.AddUInt32(arch + ".attention.head_count_kv", (uint)shape.KvHeads);
        writer.AddUInt32(arch + ".rope.dimension_count", (uint)shape.HeadDimension);
        writer.AddFloat32(arch + ".rope.freq_base", shape.RopeTheta);
        writer.AddFloat32(arch + ".attention.layer_norm_rms_epsilon", shape.RmsNormEpsilon);

        // Kept so a forged file says how to reproduce it.
        writer.AddUInt64("modelrouter.forge.seed", options.Seed);
        writer.AddString("modelrouter.forge.weight_type", options.WeightType.ToCliName());

        foreach (var entry in vocab.Metadata)
        {
            if (entry.Key.StartsWith(TokenizerPrefix, StringComparison.Ordinal) && !IsChatTemplate(entry.Key))
            {
                writer.CopyMetadata(vocab, entry);
            }
        }

        // The shape's template, not the vocabulary file's: a vocabulary GGUF may carry some other release's
        // template (llama.cpp's ggml-vocab-qwen2.gguf has Qwen2's), and the forged model imitates its preset.
        var template = shape.ChatTemplate ?? ForgeChatTemplates.ForArchitecture(shape.Architecture);
        if (template.Length > 0)
        {
            writer.AddString(ChatTemplate.MetadataKey, template);
        }
    }

    /// <summary>The default template or a named one (<c>tokenizer.chat_template.tool_use</c>, …).</summary>
    private static bool IsChatTemplate(string key) =>
        key.StartsWith(ChatTemplate.MetadataKey, StringComparison.Ordinal)
        && (key.Length == ChatTemplate.MetadataKey.Length || key[ChatTemplate.MetadataKey.Length] == '.');

    /// <summary>Tokens in the vocabulary's <c>tokenizer.ggml.tokens</c>.</summary>
    public static int CountTokens(GgufFile vocab)
    {
        if (!vocab.TryGetArray("tokenizer.ggml.tokens", out var tokens) || tokens.ElementType != GgufValueType.String || tokens.Count == 0)
        {
            throw new InvalidModelFileException(vocab.FilePath, "no tokenizer: 'tokenizer.ggml.tokens' is missing, empty or not an array of strings");
        }

        if (tokens.Count > int.MaxValue)
        {
            throw new InvalidModelFileException(vocab.FilePath, $"the vocabulary has {tokens.Count} tokens, more than llama.cpp supports");
        }

        return (int)tokens.Count;
    }

    private static string DefaultName(ForgeOptions options) => string.Format(
        CultureInfo.InvariantCulture,
        "forged-{0}-{1}L-{2}-{3}",
        options.Shape.Architecture.ToGgufName(),
        options.Shape.Layers,
        options.Shape.Width,
        options.WeightType.ToCliName());
}
