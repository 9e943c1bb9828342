using System.Diagnostics.CodeAnalysis;

namespace ModelRouter.Runtime.Gguf;

/// <summary>
/// Block and byte sizes of every ggml type the pinned ggml knows, so tensor sizes are computed in managed code
/// without loading the native library.
/// </summary>
/// <remarks>
/// The table mirrors <c>type_traits</c> in ggml/src/ggml.c of the pinned llama.cpp (de3ff81). The sizes are
/// <c>sizeof(block_*)</c> from ggml-common.h; they were printed from <c>ggml_blck_size</c>/<c>ggml_type_size</c>
/// of the built libggml-base, and a test checks the table against the native library when it is present.
/// </remarks>
public static class GgmlTypeTraits
{
    // Indexed by the numeric type id; a default entry (BlockSize 0) marks a retired or unknown id.
    private static readonly GgmlTypeInfo[] Table = BuildTable();

    /// <summary>All types in the table, in id order.</summary>
    public static IEnumerable<GgmlTypeInfo> All => Table.Where(t => t.BlockSize != 0);

    /// <summary>Looks up a type id as read from a file; false for retired or unknown ids.</summary>
    public static bool TryGet(uint typeId, out GgmlTypeInfo info)
    {
        if (typeId < (uint)Table.Length && Table[typeId].BlockSize != 0)
        {
            info = Table[typeId];
            return true;
        }

        info = default;
        return false;
    }

    /// <summary>Traits of a known type.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is not a type this ggml supports.</exception>
    public static GgmlTypeInfo Get(GgmlType type)
    {
        if (!TryGet((uint)type, out var info))
        {
            ThrowUnknown(type);
        }

        return info;
    }

    /// <summary>
    /// Bytes of a tensor of <paramref name="elementCount"/> elements whose first dimension is <paramref name="rowLength"/>;
    /// false when the row is not a whole number of blocks or the size does not fit in 64 bits.
    /// </summary>
    public static bool TryGetByteSize(GgmlType type, long rowLength, long elementCount, out long byteSize)
    {
        byteSize = 0;
        if (!TryGet((uint)type, out var info) || rowLength <= 0 || elementCount < 0 || rowLength % info.BlockSize != 0)
        {
            return false;
        }

        var blocks = elementCount / info.BlockSize;
        if (blocks > long.MaxValue / info.TypeSize)
        {
            return false;
        }

        byteSize = blocks * info.TypeSize;
        return true;
    }

    [DoesNotReturn]
    private static void ThrowUnknown(GgmlType type) =>
        throw new ArgumentOutOfRangeException(nameof(type), type, "Not a ggml type known to the pinned ggml.");

    private static GgmlTypeInfo[] BuildTable()
    {
        var table = new GgmlTypeInfo[43];
        void Add(GgmlType type, string name, int blockSize, int typeSize, bool quantized) =>
            table[(int)type] = new GgmlTypeInfo(type, name, blockSize, typeSize, quantized);

        Add(GgmlType.F32, "f32", 1, 4, false);
        Add(GgmlType.F16, "f16", 1, 2, false);
        Add(GgmlType.Q4_0, "q4_0", 32, 18, true);
        Add(GgmlType.Q4_1, "q4_1", 32, 20, true);
        Add(GgmlType.Q5_0, "q5_0", 32, 22, true);
        Add(GgmlType.Q5_1, "q5_1", 32, 24, true);
        Add(GgmlType.Q8_0, "q8_0", 32, 34, true);
        Add(GgmlType.Q8_1, "q8_1", 32, 36, true);
        Add(GgmlType.Q2_K, "q2_K", 256, 84, true);
        Add(GgmlType.Q3_K, "q3_K", 256, 110, true);
        Add(GgmlType.Q4_K, "q4_K", 256, 144, true);
        Add(GgmlType.Q5_K, "q5_K", 256, 176, true);
        Add(GgmlType.Q6_K, "q6_K", 256, 210, true);
        Add(GgmlType.Q8_K, "q8_K", 256, 292, true);
        Add(GgmlType.IQ2_XXS, "iq2_xxs", 256, 66, true);
        Add(GgmlType.IQ2_XS, "iq2_xs", 256, 74, true);
        Add(GgmlType.IQ3_XXS, "iq3_xxs", 256, 98, true);
        Add(GgmlType.IQ1_S, "iq1_s", 256, 50, true);
        Add(GgmlType.IQ4_NL, "iq4_nl", 32, 18, true);
        Add(GgmlType.IQ3_S, "iq3_s", 256, 110, true);
        Add(GgmlType.IQ2_S, "iq2_s", 256, 82, true);
        Add(GgmlType.IQ4_XS, "iq4_xs", 256, 136, true);
        Add(GgmlType.I8, "i8", 1, 1, false);
        Add(GgmlType.I16, "i16", 1, 2, false);
        Add(GgmlType.I32, "i32", 1, 4, false);
        Add(GgmlType.I64, "i64", 1, 8, false);
        Add(GgmlType.F64, "f64", 1, 8, false);
        Add(GgmlType.IQ1_M, "iq1_m", 256, 56, true);
        Add(GgmlType.BF16, "bf16", 1, 2, false);
        Add(GgmlType.TQ1_0, "tq1_0", 256, 54, true);
        Add(GgmlType.TQ2_0, "tq2_0", 256, 66, true);
        Add(GgmlType.MXFP4, "mxfp4", 32, 17, true);
        Add(GgmlType.NVFP4, "nvfp4", 64, 36, true);
        Add(GgmlType.Q1_0, "q1_0", 128, 18, true);
        Add(GgmlType.Q2_0, "q2_0", 64, 18, true);
        return table;
    }
}
