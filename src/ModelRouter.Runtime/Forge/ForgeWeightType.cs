using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Forge;

/// <summary>Storage type of a forged model's matrices (norms and biases are always F32, as llama.cpp expects).</summary>
public enum ForgeWeightType
{
    /// <summary>Half precision.</summary>
    F16,

    /// <summary>8-bit blocks of 32 with an F16 scale.</summary>
    Q8_0,

    /// <summary>4-bit blocks of 32 with an F16 scale.</summary>
    Q4_0,
}

/// <summary>How each <see cref="ForgeWeightType"/> maps to ggml types and llama.cpp file types.</summary>
public static class ForgeWeightTypes
{
    /// <summary>All types, for listing in errors and help.</summary>
    public static IReadOnlyList<ForgeWeightType> All { get; } = [ForgeWeightType.F16, ForgeWeightType.Q8_0, ForgeWeightType.Q4_0];

    /// <summary>The ggml type of the attention and FFN matrices and of the token embedding.</summary>
    public static GgmlType MatrixType(this ForgeWeightType type) => type switch
    {
        ForgeWeightType.F16 => GgmlType.F16,
        ForgeWeightType.Q8_0 => GgmlType.Q8_0,
        ForgeWeightType.Q4_0 => GgmlType.Q4_0,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>
    /// The ggml type of an untied output projection. llama-quantize keeps the output at higher precision than
    /// 4-bit because it dominates quality; Q8_0 stands in for its Q6_K here.
    /// </summary>
    public static GgmlType OutputType(this ForgeWeightType type) => type == ForgeWeightType.Q4_0 ? GgmlType.Q8_0 : type.MatrixType();

    /// <summary>The <c>general.file_type</c> value (<c>LLAMA_FTYPE_MOSTLY_*</c> in llama.h).</summary>
    public static uint FileType(this ForgeWeightType type) => type switch
    {
        ForgeWeightType.F16 => 1,
        ForgeWeightType.Q4_0 => 2,
        ForgeWeightType.Q8_0 => 7,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>The lower-case CLI spelling, e.g. <c>q4_0</c>.</summary>
    public static string ToCliName(this ForgeWeightType type) => type.ToString().ToLowerInvariant();

    /// <summary>Parses <c>f16</c>, <c>q8_0</c> or <c>q4_0</c> (case-insensitive).</summary>
    public static bool TryParse(string? text, out ForgeWeightType type)
    {
        foreach (var candidate in All)
        {
            if (string.Equals(candidate.ToString(), text?.Trim(), StringComparison.OrdinalIgnoreCase))
            {
                type = candidate;
                return true;
            }
        }

        type = default;
        return false;
    }
}
