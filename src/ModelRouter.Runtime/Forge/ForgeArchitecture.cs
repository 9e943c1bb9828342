namespace ModelRouter.Runtime.Forge;

/// <summary>Model families the forge can write, each with the metadata and tensor names llama.cpp expects.</summary>
public enum ForgeArchitecture
{
    /// <summary>llama (Llama 2/3 and relatives): RMSNorm, RoPE, SwiGLU, grouped-query attention, no biases.</summary>
    Llama,

    /// <summary>qwen2 (Qwen2/2.5): like llama, plus biases on the Q, K and V projections.</summary>
    Qwen2,
}

/// <summary>Names of <see cref="ForgeArchitecture"/> values as GGUF and the CLI spell them.</summary>
public static class ForgeArchitectureNames
{
    /// <summary>The <c>general.architecture</c> value, e.g. <c>qwen2</c>.</summary>
    public static string ToGgufName(this ForgeArchitecture architecture) => architecture switch
    {
        ForgeArchitecture.Llama => "llama",
        ForgeArchitecture.Qwen2 => "qwen2",
        _ => throw new ArgumentOutOfRangeException(nameof(architecture), architecture, null),
    };

    /// <summary>Parses <c>llama</c> or <c>qwen2</c> (case-insensitive).</summary>
    public static bool TryParse(string? text, out ForgeArchitecture architecture)
    {
        switch (text?.Trim().ToUpperInvariant())
        {
            case "LLAMA":
                architecture = ForgeArchitecture.Llama;
                return true;
            case "QWEN2":
                architecture = ForgeArchitecture.Qwen2;
                return true;
            default:
                architecture = default;
                return false;
        }
    }
}
