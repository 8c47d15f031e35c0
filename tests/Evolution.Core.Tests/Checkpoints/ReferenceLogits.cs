using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Checkpoints;

/// <summary>What the reference-forward tests share: tensors read into doubles, and the comparison of logits.</summary>
static class ReferenceLogits
{
    public static double[,] Matrix(Tensor t)
    {
        var values = t.to(ScalarType.Float64).data<double>().ToArray();
        int rows = (int)t.shape[0], cols = (int)t.shape[1];
        var r = new double[rows, cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) r[i, j] = values[i * cols + j];
        return r;
    }

    public static double[] Vector(Tensor t) => t.to(ScalarType.Float64).data<double>().ToArray();

    /// <summary>The model's logits for <paramref name="tokens"/> must be within 1e-4 of the reference's [position][vocab].</summary>
    public static void AssertMatch(Gpt model, int[] tokens, double[][] reference)
    {
        using var _ = no_grad();
        using var input = tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length]);
        using var logits = model.forward(input);
        int vocab = model.Config.VocabSize;
        var ours = logits[0].to(ScalarType.Float64).data<double>().ToArray();
        double maxDifference = 0;
        for (int t = 0; t < tokens.Length; t++)
            for (int v = 0; v < vocab; v++)
                maxDifference = Math.Max(maxDifference, Math.Abs(ours[t * vocab + v] - reference[t][v]));
        Assert.True(maxDifference < 1e-4, $"max |ours - reference| = {maxDifference}");
    }
}
