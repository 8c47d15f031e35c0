using Evolution.Core.Model;
using Evolution.Core.Text;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

public class ProbeTests
{
    static (double[][] X, double[] Y) LinearData(int n, int d, double noise, int seed)
    {
        var random = new Random(seed);
        double Gaussian() => Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
        var w = Enumerable.Range(0, d).Select(_ => Gaussian()).ToArray();
        var x = Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, d).Select(_ => Gaussian()).ToArray()).ToArray();
        var y = x.Select(row => row.Select((v, i) => v * w[i]).Sum() + 3 + noise * Gaussian()).ToArray();
        return (x, y);
    }

    [Fact]
    public void EfficientLeaveOneOutEqualsBruteForce()
    {
        var (x, y) = LinearData(30, 8, 0.5, seed: 1);
        foreach (var lambda in new[] { 0.1, 3.0, 50.0 })
            Assert.Equal(Ridge.BruteForceLooError(x, y, lambda), Ridge.LooError(x, y, lambda), 8);
    }

    [Fact]
    public void ProbeRecoversALinearAttributeAndNotShuffledLabels()
    {
        var (x, y) = LinearData(120, 10, 0.3, seed: 2);
        var folds = Enumerable.Range(0, y.Length).Select(i => i % 5).ToArray();
        var r2 = Ridge.RSquared(y, Ridge.CrossValidatedPredictions(x, y, folds));
        Assert.True(r2 > 0.95, $"R² {r2}");
        var shuffled = y.ToArray();
        new Random(3).Shuffle(shuffled);
        var control = Ridge.RSquared(shuffled, Ridge.CrossValidatedPredictions(x, shuffled, folds));
        Assert.True(control < 0.2, $"shuffled-label R² {control}");
        Assert.True(Ridge.ProximityError(y, Ridge.CrossValidatedPredictions(x, y, folds)) < 0.1);
        Assert.Equal(0, Ridge.ProximityError(y, y));
    }

    [Fact]
    public void EntityResidualsAreReadAtEachNamesLastToken()
    {
        var names = new[] { "Kemtaro Drassil", "Valdoria", "Zorvex Labs" };
        var tokenizer = CompactTokenizer.Build(names);
        var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 16, DModel = 16, NLayers = 2, NHeads = 2 }, initSeed: 1);
        var residuals = LinearProbes.EntityResiduals(model, tokenizer, names);
        Assert.Equal(3, residuals.Count);
        using var _ = no_grad();
        for (int i = 0; i < names.Length; i++)
        {
            int[] tokens = [tokenizer.EndOfText, .. tokenizer.Encode(names[i])];
            var (_, cache) = model.RunWithCache(tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length]), n => n == "blocks.1.hook_resid_post");
            var expected = cache["blocks.1.hook_resid_post"][0, tokens.Length - 1].to(ScalarType.Float64).data<double>().ToArray();
            for (int k = 0; k < expected.Length; k++) Assert.Equal(expected[k], residuals[2].Features[i][k], 5);
        }
    }
}
