using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Circuits;

/// <summary>
/// The exact effect of each edge (the definition EAP-IG approximates; ACDC, Conmy et al. 2023;
/// Yao et al. 2024): ablate that edge alone (its upstream node's output replaced by the corrupted
/// run's in that one downstream input) and measure L_clean − L_ablated. One forward per edge, batched
/// as rows; for small models and tests.
/// </summary>
public static class ExactEdgeScores
{
    public static float[][] Scores(Gpt model, IReadOnlyList<CircuitExample> examples, CircuitOptions? options = null, int rowsPerBatch = 256)
    {
        options ??= new CircuitOptions();
        var g = ComputationGraph.For(model);
        using var _ = no_grad();
        return examples.Select((example, index) =>
        {
            using var scope = NewDisposeScope();
            using var batch = CircuitBatch.Build(model, [example], options, options.Seed + index);
            var device = batch.Tokens.device;
            var corruption = batch.Corruption(ones(1, device: device));
            var reference = EdgePatching.UpstreamOutputs(model, batch.Tokens, corruption);
            float clean = batch.Metric(model.forward(batch.Tokens)).item<float>();
            var scores = new float[g.Edges.Count];
            for (int start = 0; start < g.Edges.Count; start += rowsPerBatch)
            {
                using var inner = NewDisposeScope();
                var edges = g.Edges.Skip(start).Take(rowsPerBatch).ToList();
                var ablate = new float[edges.Count * g.UpstreamCount * g.DownstreamCount];
                for (int r = 0; r < edges.Count; r++) ablate[(r * g.UpstreamCount + edges[r].Upstream) * g.DownstreamCount + edges[r].Downstream] = 1f;
                var tokens = batch.Tokens.expand(edges.Count, batch.Tokens.shape[1]);
                var metric = batch.Metric(EdgePatching.Run(model, tokens, tensor(ablate, [edges.Count, g.UpstreamCount, g.DownstreamCount], device: device), reference), edges.Count).cpu().data<float>().ToArray();
                for (int r = 0; r < edges.Count; r++) scores[edges[r].Index] = clean - metric[r];
            }
            return scores;
        }).ToArray();
    }

    /// <summary>Spearman rank correlation (Pearson on average ranks).</summary>
    public static double Spearman(IReadOnlyList<float> x, IReadOnlyList<float> y)
    {
        double[] rx = Ranks(x), ry = Ranks(y);
        double mx = rx.Average(), my = ry.Average(), sxy = 0, sxx = 0, syy = 0;
        for (int i = 0; i < rx.Length; i++)
        {
            sxy += (rx[i] - mx) * (ry[i] - my);
            sxx += (rx[i] - mx) * (rx[i] - mx);
            syy += (ry[i] - my) * (ry[i] - my);
        }
        return sxy / Math.Sqrt(sxx * syy);
    }

    static double[] Ranks(IReadOnlyList<float> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (int i = 0; i < order.Length;)
        {
            int j = i;
            while (j + 1 < order.Length && values[order[j + 1]] == values[order[i]]) j++;
            for (int k = i; k <= j; k++) ranks[order[k]] = (i + j) / 2.0 + 1;
            i = j + 1;
        }
        return ranks;
    }
}
