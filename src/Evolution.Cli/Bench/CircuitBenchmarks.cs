using System.Diagnostics;
using Evolution.Core.Model;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using static TorchSharp.torch;

namespace Evolution.Cli.Bench;

/// <summary>
/// Cost of one EAP-IG knowledge circuit (Hanna et al. 2024) on a batch of fact prompts, as a
/// multiple of one forward pass of the same batch. Weights are untrained, which does not change
/// the cost. EAP-IG needs a clean and a corrupted forward (upstream outputs) and m forward+backward
/// passes over the batch (m = IG steps; a backward costs about two forwards), about 2 + 3m forwards
/// if run one step at a time; the m steps run as one batch of facts × m rows, which a CPU runs more
/// efficiently per row than the small batch, so the measured multiple is lower. Checking the circuit (faithfulness by real ablation) adds a clean, a corrupted,
/// a reference and one patched forward per edge fraction.
/// </summary>
public static class CircuitBenchmarks
{
    public sealed record CircuitCost(string Model, int Facts, int Tokens, int IgSteps, int Edges, double ForwardMs, double EapIgMs,
        double EapIgOverForward, double EvaluationMs, double EvaluationOverForward, double UnbatchedEstimate);

    public static CircuitCost Measure(string name, GptConfig config, int facts = 8, int igSteps = 5, bool quick = false)
    {
        using var model = new Gpt(config, initSeed: 1);
        model.eval();
        int length = 16;
        var examples = Enumerable.Range(0, facts).Select(f =>
        {
            var tokens = Enumerable.Range(0, length).Select(i => (i * 7 + f * 13) % config.VocabSize).ToArray();
            var corrupted = tokens.Select((t, i) => i is >= 2 and < 6 ? (t + 101) % config.VocabSize : t).ToArray();
            return new CircuitExample(new FactPrompt("bench", tokens, 2, 6, "x", 5), corrupted, [6], Enumerable.Range(5, 20).ToArray());
        }).ToList();
        var options = new CircuitOptions(IgSteps: igSteps, FactsPerBatch: facts);
        var graph = ComputationGraph.For(model);
        using var batch = tensor(examples.SelectMany(e => e.Prompt.Tokens.Select(t => (long)t)).ToArray(), [facts, length]);

        double Best(Action run, int reps)
        {
            run();
            double best = double.MaxValue;
            for (int trial = 0; trial < (quick ? 1 : 3); trial++)
            {
                var clock = Stopwatch.StartNew();
                for (int r = 0; r < reps; r++) run();
                best = Math.Min(best, clock.Elapsed.TotalMilliseconds / reps);
            }
            return best;
        }
        double forward = Best(() => { using var _ = no_grad(); using var s = NewDisposeScope(); model.forward(batch); }, 10);
        float[][] scores = [];
        double eap = Best(() => scores = EapIg.Scores(model, examples, options), 1);
        var circuits = scores.Select(s => Circuit.TopFraction(graph, s, Circuit.DefaultEdgeFraction)).ToList();
        double evaluation = Best(() => CircuitEvaluation.Evaluate(model, examples, [circuits], options: options), 1);
        return new CircuitCost(name, facts, length, igSteps, graph.Edges.Count, forward, eap, eap / forward, evaluation, evaluation / forward, 2 + 3 * igSteps);
    }
}
