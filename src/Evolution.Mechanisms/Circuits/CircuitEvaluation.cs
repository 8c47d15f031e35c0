using Evolution.Core;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Circuits;

/// <summary>
/// What an ablated edge carries: its upstream node's output on the corrupted input (Hanna et al.
/// 2024), or its mean over the facts of a batch (<see cref="CircuitOptions.FactsPerBatch"/>), per
/// position (Wang et al. 2023). Faithfulness is normalised by the corrupted run either way.
/// </summary>
public enum Ablation { Corrupted, Mean }

/// <summary>
/// A circuit put to the test, per example: the metric (logit difference) of the full model on the
/// clean and on the corrupted input and of the circuit alone (everything else ablated), and the
/// target's rank among the candidate answers (first tokens) for the full model and the circuit.
/// </summary>
public sealed record CircuitEvaluationResult(double EdgeFraction, double[] Clean, double[] Corrupted, double[] CircuitMetric, int[] FullRank, int[] CircuitRank)
{
    /// <summary>
    /// Faithfulness as Hanna et al. (2024) normalise it: (L_circuit − L_corrupted) / (L_clean − L_corrupted)
    /// on metrics averaged over the examples (1 = the circuit recovers the full model's logit
    /// difference, 0 = no better than the corrupted model). The ratio of means, because per-example
    /// ratios blow up where clean and corrupted are close.
    /// </summary>
    public double Faithfulness => (CircuitMetric.Average() - Corrupted.Average()) / (Clean.Average() - Corrupted.Average());

    /// <summary>Median of the per-example ratios, robust to the odd example.</summary>
    public double MedianExampleFaithfulness
    {
        get
        {
            var ratios = Clean.Select((c, i) => (CircuitMetric[i] - Corrupted[i]) / (c - Corrupted[i])).Order().ToArray();
            return ratios.Length % 2 == 1 ? ratios[ratios.Length / 2] : (ratios[ratios.Length / 2 - 1] + ratios[ratios.Length / 2]) / 2;
        }
    }

    /// <summary>Hit@10 (Yao et al. 2024): the target among the 10 best candidate answers.</summary>
    public double Hit10Circuit => CircuitRank.Average(r => r <= 10 ? 1.0 : 0.0);
    public double Hit10Full => FullRank.Average(r => r <= 10 ? 1.0 : 0.0);

    /// <summary>Hit@1: the target is the best candidate (stricter than Hit@10 when there are few candidates).</summary>
    public double Hit1Circuit => CircuitRank.Average(r => r == 1 ? 1.0 : 0.0);
    public double Hit1Full => FullRank.Average(r => r == 1 ? 1.0 : 0.0);
}

/// <summary>
/// Faithfulness by real ablation (Yao et al. 2024 §3; Hanna et al. 2024 §4): run the model with every
/// edge outside the circuit patched (<see cref="EdgePatching"/>) and compare its logit difference
/// and Hit@10 with the full model's.
/// </summary>
public static class CircuitEvaluation
{
    /// <param name="circuitSets">Each set holds one circuit per example (e.g. one set per edge fraction).</param>
    public static IReadOnlyList<CircuitEvaluationResult> Evaluate(Gpt model, IReadOnlyList<CircuitExample> examples,
        IReadOnlyList<IReadOnlyList<Circuit>> circuitSets, Ablation ablation = Ablation.Corrupted, CircuitOptions? options = null)
    {
        options ??= new CircuitOptions();
        foreach (var set in circuitSets)
            if (set.Count != examples.Count) throw new ArgumentException($"a circuit set has {set.Count} circuits for {examples.Count} examples");
        int n = examples.Count;
        double[] clean = new double[n], corrupted = new double[n];
        int[] fullRank = new int[n];
        var circuitMetric = circuitSets.Select(_ => new double[n]).ToArray();
        var circuitRank = circuitSets.Select(_ => new int[n]).ToArray();
        using var _ = no_grad();
        for (int start = 0; start < n; start += options.FactsPerBatch)
        {
            using var scope = NewDisposeScope();
            var chunk = examples.Skip(start).Take(options.FactsPerBatch).ToList();
            using var batch = CircuitBatch.Build(model, chunk, options, options.Seed + start);
            var device = batch.Tokens.device;
            var cleanLogits = model.forward(batch.Tokens);
            var corruption = batch.Corruption(ones(batch.Rows, device: device));
            var corruptedLogits = model.RunWithHooks(batch.Tokens, corruption);
            var reference = ablation == Ablation.Corrupted
                ? EdgePatching.UpstreamOutputs(model, batch.Tokens, corruption)
                : EdgePatching.UpstreamOutputs(model, batch.Tokens).mean([0], keepdim: true);
            Copy(batch.Metric(cleanLogits), clean, start);
            Copy(batch.Metric(corruptedLogits), corrupted, start);
            Ranks(batch, cleanLogits).CopyTo(fullRank, start);
            var graph = ComputationGraph.For(model);
            var valid = graph.ValidMask().to(device);
            for (int s = 0; s < circuitSets.Count; s++)
            {
                // Ablate = valid and not in the circuit, per row.
                var kept = stack(chunk.Select((_, b) => graph.Dense(circuitSets[s][start + b].Included.Select(x => x ? 1f : 0f).ToArray())).ToList()).to(device);
                var logits = EdgePatching.Run(model, batch.Tokens, valid * kept.negative().add(Scalars.One, Scalars.One), reference);
                Copy(batch.Metric(logits), circuitMetric[s], start);
                Ranks(batch, logits).CopyTo(circuitRank[s], start);
            }
        }
        return circuitSets.Select((set, s) => new CircuitEvaluationResult(set.Average(c => c.EdgeFraction), clean, corrupted, circuitMetric[s], fullRank, circuitRank[s])).ToList();
    }

    static void Copy(Tensor values, double[] into, int start)
    {
        var data = values.cpu().data<float>().ToArray();
        for (int i = 0; i < data.Length; i++) into[start + i] = data[i];
    }

    /// <summary>The target's rank among its example's candidate first tokens (ties count against it, as in CandidateRanker).</summary>
    internal static int[] Ranks(CircuitBatch batch, Tensor logits)
    {
        var last = batch.LastLogits(logits).cpu();
        return batch.Examples.Select((e, b) =>
        {
            var row = last[b].data<float>();
            float target = row[e.Prompt.TargetToken];
            return 1 + e.Candidates.Distinct().Count(c => c != e.Prompt.TargetToken && row[c] >= target);
        }).ToArray();
    }
}
