using Evolution.Core.Model;
using Evolution.Core.Text;

namespace Evolution.Mechanisms.Tests;

public class SimilarityTests
{
    static double[][] Random(int n, int d, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => Enumerable.Range(0, d).Select(_ => random.NextDouble() * 2 - 1).ToArray()).ToArray();
    }

    /// <summary>x·R·s for a random rotation R (Gram–Schmidt) and scale s: the same representation in other coordinates.</summary>
    static double[][] Rotated(double[][] x, double scale, int seed)
    {
        int d = x[0].Length;
        var basis = Random(d, d, seed);
        for (int i = 0; i < d; i++)
        {
            for (int j = 0; j < i; j++)
            {
                double dot = basis[i].Zip(basis[j], (a, b) => a * b).Sum();
                for (int c = 0; c < d; c++) basis[i][c] -= dot * basis[j][c];
            }
            double norm = Math.Sqrt(basis[i].Sum(v => v * v));
            for (int c = 0; c < d; c++) basis[i][c] /= norm;
        }
        return x.Select(row => Enumerable.Range(0, d).Select(c => scale * Enumerable.Range(0, d).Sum(k => row[k] * basis[k][c])).ToArray()).ToArray();
    }

    [Fact]
    public void CkaIsOneUnderRotationAndScaleAndLowForUnrelatedRepresentations()
    {
        var x = Random(60, 8, 1);
        Assert.Equal(1.0, RepresentationSimilarity.LinearCka(x, x), 9);
        Assert.Equal(1.0, RepresentationSimilarity.LinearCka(x, Rotated(x, 3.5, 2)), 6);
        Assert.True(RepresentationSimilarity.LinearCka(x, Random(60, 8, 3)) < 0.4);
    }

    [Fact]
    public void MutualKnnIsOneForTheSameGeometryAndNearChanceOtherwise()
    {
        var x = Random(80, 6, 4);
        Assert.Equal(1.0, RepresentationSimilarity.MutualKnn(x, Rotated(x, 2, 5), k: 10), 9);
        // unrelated spaces share about k/(n-1) of each neighbourhood by chance
        Assert.True(RepresentationSimilarity.MutualKnn(x, Random(80, 6, 6), k: 10) < 0.3);
    }

    [Fact]
    public void ModelComparedWithItselfConvergesCompletely()
    {
        var texts = new[] { "Kemtaro Drassil", "Valdoria", "Zorvex Labs", "Pellamund", "Ostravel", "Kinmora", "Zettrin", "Bria Tolun", "Cass Remdor", "Dova Krill", "Enno Paxter", "Fira Omdal" };
        var tokenizer = CompactTokenizer.Build(texts);
        var config = new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 16, DModel = 16, NLayers = 2, NHeads = 2 };
        var model = new Gpt(config, initSeed: 1);
        var same = RepresentationSimilarity.Compare(model, tokenizer, model, tokenizer, texts, k: 3);
        Assert.All(same, l => Assert.Equal(1.0, l.LinearCka, 6));
        Assert.All(same, l => Assert.Equal(1.0, l.MutualKnn, 9));
        var other = RepresentationSimilarity.Compare(model, tokenizer, new Gpt(config, initSeed: 2), tokenizer, texts, k: 3);
        Assert.True(other[^1].LinearCka < 1.0);
    }
}
