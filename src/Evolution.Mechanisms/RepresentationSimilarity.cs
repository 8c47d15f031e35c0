using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>Similarity of two models' representations of the same inputs at one pair of layers.</summary>
public sealed record LayerSimilarity(string HookA, string HookB, double LinearCka, double MutualKnn);

/// <summary>
/// Representation convergence between models (or one model over time) on a fixed set of texts:
/// linear CKA (Kornblith et al. 2019) and mutual k-nearest-neighbour alignment (Huh et al. 2024,
/// "The Platonic Representation Hypothesis"), per layer, on the residual stream at each text's last token.
/// </summary>
public static class RepresentationSimilarity
{
    /// <summary>Linear CKA = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on column-centred X [n, d₁], Y [n, d₂]; 1 for identical up to rotation and scale.</summary>
    public static double LinearCka(double[][] x, double[][] y)
    {
        using var scope = NewDisposeScope();
        var a = Centered(x);
        var b = Centered(y);
        double cross = b.t().matmul(a).pow(Scalars.Two).sum().item<double>();
        double self = a.t().matmul(a).pow(Scalars.Two).sum().sqrt().item<double>() * b.t().matmul(b).pow(Scalars.Two).sum().sqrt().item<double>();
        return cross / self;
    }

    /// <summary>Mean over samples of |kNN_X(i) ∩ kNN_Y(i)| / k, with cosine neighbours; 1 when both spaces agree on every neighbourhood.</summary>
    public static double MutualKnn(double[][] x, double[][] y, int k = 10)
    {
        if (x.Length != y.Length) throw new ArgumentException("both representations must cover the same samples");
        k = Math.Min(k, x.Length - 1);
        var nx = Neighbours(x, k);
        var ny = Neighbours(y, k);
        return Enumerable.Range(0, x.Length).Average(i => (double)nx[i].Intersect(ny[i]).Count() / k);
    }

    static HashSet<long>[] Neighbours(double[][] features, int k)
    {
        using var scope = NewDisposeScope();
        var f = Matrix(features);
        using var floor = 1e-12.ToScalar();
        using var selfPenalty = 1e9.ToScalar();
        f = f / f.norm(1, true).clamp_min(floor);
        var similarity = f.matmul(f.t()) - eye(features.Length, dtype: ScalarType.Float64).mul(selfPenalty); // a sample is not its own neighbour
        var (_, indices) = similarity.topk(k, dim: 1);
        var flat = indices.data<long>().ToArray();
        return Enumerable.Range(0, features.Length).Select(i => flat.AsSpan(i * k, k).ToArray().ToHashSet()).ToArray();
    }

    /// <summary>Per-layer CKA and mutual k-NN between two models on the same texts; layers are paired by relative depth.</summary>
    public static IReadOnlyList<LayerSimilarity> Compare(Gpt a, ITextTokenizer tokenizerA, Gpt b, ITextTokenizer tokenizerB, IReadOnlyList<string> texts, int k = 10)
    {
        var ra = LinearProbes.EntityResiduals(a, tokenizerA, texts);
        var rb = LinearProbes.EntityResiduals(b, tokenizerB, texts);
        return ra.Select((layer, i) =>
        {
            int j = ra.Count == 1 ? 0 : (int)Math.Round((double)i * (rb.Count - 1) / (ra.Count - 1));
            return new LayerSimilarity(layer.Hook, rb[j].Hook, LinearCka(layer.Features, rb[j].Features), MutualKnn(layer.Features, rb[j].Features, k));
        }).ToList();
    }

    static Tensor Matrix(double[][] rows) => tensor(rows.SelectMany(r => r).ToArray(), [rows.Length, rows[0].Length], ScalarType.Float64);

    static Tensor Centered(double[][] rows)
    {
        var m = Matrix(rows);
        return m - m.mean([0]);
    }
}
