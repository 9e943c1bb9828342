using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ModelRouter.Routing.Classification;

/// <summary>
/// The scoring arithmetic, shared by trainer and classifier: scores = bias + (1/sqrt(n)) * sum of the n hashed rows
/// + denseHead * pooled. Hashed rows live directly in score space (their width is the label count, padded to a
/// multiple of 8 floats): for mean pooling followed by a linear head, folding the head into the rows is exact, and it
/// makes each feature one aligned 8-float add instead of a d-wide row plus a d-by-K product.
/// </summary>
internal static class LinearHead
{
    /// <summary>Floats per hashed row for <paramref name="labelCount"/> labels (a whole number of 256-bit vectors).</summary>
    public static int StrideFor(int labelCount) => (labelCount + 7) & ~7;

    /// <summary>The weight each of <paramref name="count"/> sparse features gets (their vector has unit length).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float SparseScale(int count) => count == 0 ? 0f : 1f / MathF.Sqrt(count);

    /// <summary>Computes raw scores (logits) into <paramref name="scores"/> (length = label count).</summary>
    public static void Score(
        ReadOnlySpan<int> rows,
        ReadOnlySpan<float> sparseWeights,
        int stride,
        ReadOnlySpan<float> dense,
        ReadOnlySpan<float> denseHead,
        ReadOnlySpan<float> bias,
        Span<float> scores)
    {
        var labels = bias.Length;
        Span<float> sums = stackalloc float[stride];
        SumRows(rows, sparseWeights, stride, sums);
        var scale = SparseScale(rows.Length);
        for (var k = 0; k < labels; k++)
        {
            var s = bias[k] + (scale * sums[k]);
            if (!dense.IsEmpty)
            {
                s += TensorPrimitives.Dot(denseHead.Slice(k * dense.Length, dense.Length), dense);
            }

            scores[k] = s;
        }
    }

    /// <summary>Sums the hashed rows; 8 labels are one vector register, so the common case is one add per feature.</summary>
    private static void SumRows(ReadOnlySpan<int> rows, ReadOnlySpan<float> weights, int stride, Span<float> sums)
    {
        ref var baseRef = ref MemoryMarshal.GetReference(weights);
        if (stride == 8)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            var acc2 = Vector256<float>.Zero;
            var acc3 = Vector256<float>.Zero;
            var i = 0;
            for (; i + 3 < rows.Length; i += 4)
            {
                // Four accumulators: an add takes 3-4 cycles, so one chain would hold the loop to a row per add latency.
                acc0 += Vector256.LoadUnsafe(ref baseRef, (nuint)((long)rows[i] * 8));
                acc1 += Vector256.LoadUnsafe(ref baseRef, (nuint)((long)rows[i + 1] * 8));
                acc2 += Vector256.LoadUnsafe(ref baseRef, (nuint)((long)rows[i + 2] * 8));
                acc3 += Vector256.LoadUnsafe(ref baseRef, (nuint)((long)rows[i + 3] * 8));
            }

            for (; i < rows.Length; i++)
            {
                acc0 += Vector256.LoadUnsafe(ref baseRef, (nuint)((long)rows[i] * 8));
            }

            ((acc0 + acc1) + (acc2 + acc3)).StoreUnsafe(ref MemoryMarshal.GetReference(sums));
            return;
        }

        sums.Clear();
        foreach (var row in rows)
        {
            TensorPrimitives.Add(sums, weights.Slice(row * stride, stride), sums);
        }
    }

    /// <summary>Softmax of scores / temperature, in place; returns the index of the largest.</summary>
    public static int Softmax(Span<float> scores, float temperature)
    {
        if (temperature != 1f)
        {
            TensorPrimitives.Multiply(scores, 1f / temperature, scores);
        }

        TensorPrimitives.SoftMax(scores, scores);
        return TensorPrimitives.IndexOfMax(scores);
    }
}
