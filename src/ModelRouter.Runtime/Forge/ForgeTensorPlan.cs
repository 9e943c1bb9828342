using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Forge;

/// <summary>One tensor a forged model will contain.</summary>
internal sealed record ForgeTensor(string Name, long[] Dimensions, GgmlType Type, ForgeTensorKind Kind);

/// <summary>
/// The tensors llama.cpp's loader requires for each family, with the names from llama-arch.cpp and the shapes
/// from the families' <c>load_arch_tensors</c> (src/models/llama.cpp, src/models/qwen2.cpp). Dimensions are in
/// ggml order: row length first.
/// </summary>
internal static class ForgeTensorPlan
{
    public static List<ForgeTensor> Build(ModelShape shape, ForgeWeightType weightType, int vocabulary)
    {
        long width = shape.Width;
        long ffn = shape.FeedForward;
        long qWidth = (long)shape.HeadDimension * shape.Heads;
        long kvWidth = shape.KvWidth;
        var matrix = weightType.MatrixType();
        var plan = new List<ForgeTensor>((shape.Layers * 12) + 3)
        {
            new("token_embd.weight", [width, vocabulary], matrix, ForgeTensorKind.Matrix),
        };

        for (var i = 0; i < shape.Layers; i++)
        {
            var p = $"blk.{i}.";
            plan.Add(new(p + "attn_norm.weight", [width], GgmlType.F32, ForgeTensorKind.Norm));
            plan.Add(new(p + "attn_q.weight", [width, qWidth], matrix, ForgeTensorKind.Matrix));
            plan.Add(new(p + "attn_k.weight", [width, kvWidth], matrix, ForgeTensorKind.Matrix));
            plan.Add(new(p + "attn_v.weight", [width, kvWidth], matrix, ForgeTensorKind.Matrix));
            if (shape.Architecture == ForgeArchitecture.Qwen2)
            {
                // Qwen2's Q, K and V projections carry biases; llama.cpp loads them when present.
                plan.Add(new(p + "attn_q.bias", [qWidth], GgmlType.F32, ForgeTensorKind.Bias));
                plan.Add(new(p + "attn_k.bias", [kvWidth], GgmlType.F32, ForgeTensorKind.Bias));
                plan.Add(new(p + "attn_v.bias", [kvWidth], GgmlType.F32, ForgeTensorKind.Bias));
            }

            plan.Add(new(p + "attn_output.weight", [qWidth, width], matrix, ForgeTensorKind.Matrix));
            plan.Add(new(p + "ffn_norm.weight", [width], GgmlType.F32, ForgeTensorKind.Norm));
            plan.Add(new(p + "ffn_gate.weight", [width, ffn], matrix, ForgeTensorKind.Matrix));
            plan.Add(new(p + "ffn_up.weight", [width, ffn], matrix, ForgeTensorKind.Matrix));
            plan.Add(new(p + "ffn_down.weight", [ffn, width], matrix, ForgeTensorKind.Matrix));
        }

        plan.Add(new("output_norm.weight", [width], GgmlType.F32, ForgeTensorKind.Norm));
        if (!shape.TiedEmbeddings)
        {
            plan.Add(new("output.weight", [width, vocabulary], weightType.OutputType(), ForgeTensorKind.Matrix));
        }

        return plan;
    }
}
