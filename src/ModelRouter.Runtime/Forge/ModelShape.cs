namespace ModelRouter.Runtime.Forge;

/// <summary>
/// The hyperparameters of a forged transformer. The vocabulary is not part of the shape: it comes from the
/// tokenizer the model is forged with.
/// </summary>
/// <param name="Architecture">Model family.</param>
/// <param name="Layers">Transformer blocks (<c>block_count</c>).</param>
/// <param name="Width">Hidden size (<c>embedding_length</c>).</param>
/// <param name="FeedForward">FFN inner size (<c>feed_forward_length</c>).</param>
/// <param name="Heads">Attention heads.</param>
/// <param name="KvHeads">Key/value heads (grouped-query attention); must divide <paramref name="Heads"/>.</param>
/// <param name="ContextLength">Training context length (<c>context_length</c>).</param>
public sealed record ModelShape(ForgeArchitecture Architecture, int Layers, int Width, int FeedForward, int Heads, int KvHeads, int ContextLength)
{
    /// <summary>llama.cpp's LLAMA_MAX_LAYERS.</summary>
    public const int MaxLayers = 512;

    /// <summary>RoPE base frequency (<c>rope.freq_base</c>).</summary>
    public float RopeTheta { get; init; } = 10000f;

    /// <summary>RMSNorm epsilon (<c>attention.layer_norm_rms_epsilon</c>).</summary>
    public float RmsNormEpsilon { get; init; } = 1e-5f;

    /// <summary>Whether the output projection reuses the token embedding (no <c>output.weight</c>).</summary>
    public bool TiedEmbeddings { get; init; }

    /// <summary>
    /// The Jinja chat template written as <c>tokenizer.chat_template</c>. Null writes the family's instruct
    /// template (<see cref="ForgeChatTemplates.ForArchitecture"/>); empty writes none, for files that must lack one.
    /// </summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Size of one attention head.</summary>
    public int HeadDimension => Heads > 0 ? Width / Heads : 0;

    /// <summary>Width of the K and V projections.</summary>
    public int KvWidth => HeadDimension * KvHeads;

    /// <summary>Returns why this shape cannot be forged with <paramref name="type"/>, or null when it can.</summary>
    public string? FindProblem(ForgeWeightType type)
    {
        if (Layers is < 1 or > MaxLayers)
        {
            return $"layers must be between 1 and {MaxLayers} (got {Layers})";
        }

        if (Width < 1 || FeedForward < 1 || Heads < 1 || KvHeads < 1 || ContextLength < 1)
        {
            return "width, FFN width, heads, KV heads and context length must all be positive";
        }

        if (Width % Heads != 0)
        {
            return $"width {Width} is not a multiple of the head count {Heads}";
        }

        if (HeadDimension % 2 != 0)
        {
            return $"head size {HeadDimension} (width / heads) must be even for RoPE";
        }

        if (Heads % KvHeads != 0)
        {
            return $"heads {Heads} is not a multiple of the KV head count {KvHeads}";
        }

        // Quantized rows are whole blocks of 32: every matrix row is Width or FeedForward long.
        if (type != ForgeWeightType.F16 && (Width % 32 != 0 || FeedForward % 32 != 0))
        {
            return $"{type.ToCliName()} needs width and FFN width to be multiples of 32 (got {Width} and {FeedForward})";
        }

        return null;
    }
}
