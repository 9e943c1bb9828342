using ModelRouter.Routing.Classification;

namespace ModelRouter.Routing.Training;

/// <summary>
/// Multinomial logistic regression over hashed rows and a pooled dense vector, trained by AdaGrad one example at a
/// time in a seeded order (deterministic: the same order and data give the same weights). Sparse rows carry their
/// own AdaGrad accumulators, so rare n-grams keep larger steps than frequent ones, as in fastText.
/// </summary>
internal sealed class SoftmaxRegression
{
    private const float Epsilon = 1e-8f;

    private readonly int labels;
    private readonly int stride;
    private readonly int denseLength;
    private readonly float learningRate;
    private readonly float l2;
    private readonly float[] classWeights;
    private readonly float[] sparseSquares;
    private readonly float[] denseSquares;
    private readonly float[] biasSquares;

    public SoftmaxRegression(int labels, int hashBits, int denseLength, float learningRate, float l2, float[] classWeights)
    {
        this.labels = labels;
        stride = LinearHead.StrideFor(labels);
        this.denseLength = denseLength;
        this.learningRate = learningRate;
        this.l2 = l2;
        this.classWeights = classWeights;
        Sparse = new float[(1 << hashBits) * stride];
        sparseSquares = new float[Sparse.Length];
        Dense = new float[labels * denseLength];
        denseSquares = new float[Dense.Length];
        Bias = new float[labels];
        biasSquares = new float[labels];
    }

    public float[] Sparse { get; }

    public float[] Dense { get; }

    public float[] Bias { get; }

    public int Stride => stride;

    /// <summary>Multiplies the base step (for a decaying schedule); 1 by default.</summary>
    public float LearningRateScale { get; set; } = 1f;

    /// <summary>Share of the target mass spread evenly over all labels (0: one-hot targets).</summary>
    public float LabelSmoothing { get; init; }

    /// <summary>One pass over <paramref name="order"/>.</summary>
    public void Epoch(FeaturizedExamples data, ReadOnlySpan<int> order)
    {
        Span<float> scores = stackalloc float[labels];
        Span<float> gradient = stackalloc float[labels];
        foreach (var i in order)
        {
            var rows = data.Rows[i];
            var dense = data.Dense[i];
            var gold = data.Labels[i];
            Scores(rows, dense, scores);
            LinearHead.Softmax(scores, 1f);
            var weight = classWeights[gold];
            var off = LabelSmoothing / labels;
            var on = 1f - LabelSmoothing + off;
            for (var k = 0; k < labels; k++)
            {
                gradient[k] = weight * (scores[k] - (k == gold ? on : off));
            }

            var scale = LinearHead.SparseScale(rows.Length);
            foreach (var row in rows)
            {
                var at = row * stride;
                for (var k = 0; k < labels; k++)
                {
                    Step(Sparse, sparseSquares, at + k, (scale * gradient[k]) + (l2 * Sparse[at + k]));
                }
            }

            if (denseLength > 0)
            {
                for (var k = 0; k < labels; k++)
                {
                    var g = gradient[k];
                    var at = k * denseLength;
                    for (var j = 0; j < denseLength; j++)
                    {
                        Step(Dense, denseSquares, at + j, (g * dense[j]) + (l2 * Dense[at + j]));
                    }
                }
            }

            for (var k = 0; k < labels; k++)
            {
                Step(Bias, biasSquares, k, gradient[k]);
            }
        }
    }

    /// <summary>
    /// Adds the current weights into running sums (after each epoch). The average of the epoch-end weights is less
    /// noisy than the last ones: one example-at-a-time steps leave the final weights tilted towards the last examples.
    /// </summary>
    public void AddToAverage(float[] sparseSum, float[] denseSum, float[] biasSum)
    {
        System.Numerics.Tensors.TensorPrimitives.Add(sparseSum, Sparse, sparseSum);
        System.Numerics.Tensors.TensorPrimitives.Add(denseSum, Dense, denseSum);
        System.Numerics.Tensors.TensorPrimitives.Add(biasSum, Bias, biasSum);
    }

    /// <summary>A model whose weights are <paramref name="sums"/> divided by <paramref name="count"/>.</summary>
    public SoftmaxRegression Averaged(float[] sparseSum, float[] denseSum, float[] biasSum, int count)
    {
        var averaged = new SoftmaxRegression(labels, System.Numerics.BitOperations.Log2((uint)(Sparse.Length / stride)), denseLength, learningRate, l2, classWeights) { LabelSmoothing = LabelSmoothing };
        var scale = 1f / count;
        System.Numerics.Tensors.TensorPrimitives.Multiply(sparseSum, scale, averaged.Sparse);
        System.Numerics.Tensors.TensorPrimitives.Multiply(denseSum, scale, averaged.Dense);
        System.Numerics.Tensors.TensorPrimitives.Multiply(biasSum, scale, averaged.Bias);
        return averaged;
    }

    /// <summary>Raw scores (logits) of one example.</summary>
    public void Scores(int[] rows, float[] dense, Span<float> scores) =>
        LinearHead.Score(rows, Sparse, stride, dense, Dense, Bias, scores);

    private void Step(float[] weights, float[] squares, int i, float g)
    {
        var s = squares[i] + (g * g);
        squares[i] = s;
        weights[i] -= LearningRateScale * learningRate * g / (MathF.Sqrt(s) + Epsilon);
    }
}
