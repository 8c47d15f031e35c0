using Evolution.Core.Model;
using Evolution.Mechanisms.Circuits;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

public class CircuitTests
{
    static readonly GptConfig Tiny = new() { VocabSize = 30, ContextLength = 12, DModel = 16, NLayers = 2, NHeads = 2 };

    /// <summary>A random tiny model with weights scaled up so attention patterns and MLPs are far from linear.</summary>
    static Gpt TinyModel(int seed, string architecture = "gpt2")
    {
        var model = new Gpt(Tiny.WithArchitecture(architecture), seed);
        using var _ = no_grad();
        using var thirty = 30.ToScalar();
        using var eight = 8.ToScalar();
        model.TokenEmbedding.weight!.mul_(thirty);
        foreach (var block in model.Blocks)
        {
            block.Attn.QkvProjection.weight!.mul_(eight);
            block.Attn.OutputProjection.weight!.mul_(eight);
            block.Mlp.In.weight!.mul_(eight);
            block.Mlp.Gate?.weight!.mul_(eight);
            block.Mlp.Out.weight!.mul_(eight);
        }
        return model;
    }

    /// <summary>Prompts [eot, s1, s2, r1, r2, r3] with a two-token subject swapped for another in the corrupted run.</summary>
    static List<CircuitExample> Examples(int count, int seed, bool gaussian = false)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            int[] tokens = [0, random.Next(1, 10), random.Next(1, 10), 20, 21, 22];
            int[] corrupted = [0, random.Next(10, 20), random.Next(10, 20), 20, 21, 22];
            int target = random.Next(23, 30), other = 23 + (target - 23 + 1 + random.Next(6)) % 7;
            var prompt = new FactPrompt("synthetic", tokens, 1, 3, "t", target);
            return new CircuitExample(prompt, gaussian ? null : corrupted, [other], Enumerable.Range(23, 7).ToArray());
        }).ToList();
    }

    [Fact]
    public void GraphHasEveryForwardEdgeAndNoOther()
    {
        var g = new ComputationGraph(2, 2);
        Assert.Equal(7, g.UpstreamCount);
        Assert.Equal(15, g.DownstreamCount);
        // Layer 0 q/k/v (6 inputs) see the input; MLP 0 sees input + 2 heads; layer 1 q/k/v see 4; MLP 1 sees 6; logits see 7.
        Assert.Equal(6 * 1 + 3 + 6 * 4 + 6 + 7, g.Edges.Count);
        Assert.Contains(g.Edges, e => e.Name == "a0.h1->m0");
        Assert.DoesNotContain(g.Edges, e => e.Name == "m0->a0.h0<q>");
        Assert.Contains(g.Edges, e => e.Name == "m0->a1.h0<k>");
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void AblatingNoEdgeIsTheCleanRunAndEveryEdgeTheCorruptedRun(string architecture)
    {
        var model = TinyModel(1, architecture);
        var g = ComputationGraph.For(model);
        var examples = Examples(3, 1);
        using var _ = no_grad();
        using var batch = CircuitBatch.Build(model, examples, new CircuitOptions(), 0);
        var corruption = batch.Corruption(ones(3));
        var reference = EdgePatching.UpstreamOutputs(model, batch.Tokens, corruption);
        var none = EdgePatching.Run(model, batch.Tokens, zeros(3, g.UpstreamCount, g.DownstreamCount), reference);
        Assert.True(none.allclose(model.forward(batch.Tokens), 1e-4, 1e-4));
        var all = EdgePatching.Run(model, batch.Tokens, g.ValidMask().expand(3, -1, -1), reference);
        var corrupted = model.RunWithHooks(batch.Tokens, corruption);
        Assert.True(all.allclose(corrupted, 1e-3, 1e-3), $"max difference {(all - corrupted).abs().max().item<float>()}");
        Assert.False(corrupted.allclose(none, 1e-2, 1e-2), "the corruption must change the output");
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void EapIgRanksEdgesLikeExactAblation(string architecture)
    {
        var model = TinyModel(2, architecture);
        var examples = Examples(4, 2);
        var options = new CircuitOptions(IgSteps: 10);
        var eap = Circuit.MeanScores(EapIg.Scores(model, examples, options));
        var exact = Circuit.MeanScores(ExactEdgeScores.Scores(model, examples, options));
        double rho = ExactEdgeScores.Spearman(eap.Select(Math.Abs).ToArray(), exact.Select(Math.Abs).ToArray());
        Assert.True(rho >= 0.7, $"Spearman(|EAP-IG|, |exact|) = {rho:F3}");
    }

    [Fact]
    public void CircuitOfKnowledgePutIntoOneMlpGoesThroughThatMlp()
    {
        var model = HandBuiltModels.KnowledgeInMlp1();
        var prompt = new FactPrompt("built", [0, HandBuiltModels.Subject], 1, 2, "t", HandBuiltModels.Target);
        var example = new CircuitExample(prompt, [0, 4], [5], [5, 6, HandBuiltModels.Target, 8]);
        var g = ComputationGraph.For(model);
        var scores = EapIg.Scores(model, [example])[0];
        var top = g.Edges.OrderByDescending(e => Math.Abs(scores[e.Index])).Take(2).Select(e => e.Name).ToList();
        Assert.Contains("m1->logits", top);
        Assert.Contains("input->m1", top);
        var circuit = Circuit.TopFraction(g, scores, 0.05);
        var result = CircuitEvaluation.Evaluate(model, [example], [[circuit]])[0];
        Assert.True(result.Faithfulness > 0.9, $"faithfulness {result.Faithfulness:F3} of {circuit.EdgeCount} edges");
        Assert.Equal(1, result.CircuitRank[0]);
    }

    [Fact]
    public void MoverHeadIsFoundAndLabelled()
    {
        var model = HandBuiltModels.MoverHead();
        int s = HandBuiltModels.Subject, r = HandBuiltModels.Relation, t = HandBuiltModels.Target;
        var prompt = new FactPrompt("built", [0, s, r], 1, 2, "t", t);
        var example = new CircuitExample(prompt, [0, 4, r], [5], [5, 6, t, 8]);
        var g = ComputationGraph.For(model);
        var scores = EapIg.Scores(model, [example])[0];
        var best = g.Edges.MaxBy(e => Math.Abs(scores[e.Index]))!;
        Assert.Equal("a0.h0", g.UpstreamName(best.Upstream));
        var circuit = Circuit.TopFraction(g, scores, 0.1);
        var roles = HeadRoles.Label(model, example, circuit);
        var head = Assert.Single(roles, x => x.Head == "a0.h0");
        Assert.Equal(HeadRole.Mover, head.Role);
        Assert.True(head.SubjectAttention > 0.9, $"subject attention {head.SubjectAttention:F3}");
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void FaithfulnessGrowsToOneWithTheWholeGraph(string architecture)
    {
        var model = TinyModel(3, architecture);
        var examples = Examples(6, 3, gaussian: true);
        var g = ComputationGraph.For(model);
        var scores = EapIg.Scores(model, examples, new CircuitOptions(FactsPerBatch: 4));
        double[] fractions = [0.05, 0.3, 1.0];
        var results = CircuitEvaluation.Evaluate(model, examples,
            fractions.Select(f => (IReadOnlyList<Circuit>)scores.Select(s => Circuit.TopFraction(g, s, f)).ToList()).ToList(), options: new CircuitOptions(FactsPerBatch: 4));
        Assert.Equal(1.0, results[2].Faithfulness, 3);
        Assert.Equal(results[2].Hit10Full, results[2].Hit10Circuit);
        // Closer to the full model with more edges (on a random model a small circuit can overshoot, faithfulness > 1).
        Assert.True(Math.Abs(results[1].Faithfulness - 1) < Math.Abs(results[0].Faithfulness - 1), $"30%: {results[1].Faithfulness:F3}, 5%: {results[0].Faithfulness:F3}");
        var mean = CircuitEvaluation.Evaluate(model, examples, [scores.Select(s => Circuit.TopFraction(g, s, 1.0)).ToList()], Ablation.Mean)[0];
        Assert.Equal(1.0, mean.Faithfulness, 3);
    }

    [Fact]
    public void DiffOfACircuitWithItselfIsIdentityAndWithAnotherCountsChanges()
    {
        var g = new ComputationGraph(2, 2);
        var random = new Random(4);
        float[] a = g.Edges.Select(_ => (float)random.NextDouble()).ToArray(), b = g.Edges.Select(_ => (float)random.NextDouble()).ToArray();
        var ca = Circuit.TopFraction(g, a, 0.2);
        var cb = Circuit.TopFraction(g, b, 0.2);
        var same = CircuitDiff.Compare(ca, ca);
        Assert.Equal(1.0, same.EdgeJaccard);
        Assert.Equal(1.0, same.WeightedOverlap, 6);
        Assert.Empty(same.NodesGained);
        var diff = CircuitDiff.Compare(ca, cb);
        Assert.Equal(ca.EdgeCount, diff.SharedEdges + diff.EdgesOnlyInA);
        Assert.Equal((double)diff.SharedEdges / (diff.SharedEdges + diff.EdgesOnlyInA + diff.EdgesOnlyInB), diff.EdgeJaccard);
        Assert.True(diff.WeightedOverlap is > 0 and < 1);
        Assert.Equal(cb.Nodes().Except(ca.Nodes()).Order(), diff.NodesGained);
        Assert.Throws<ArgumentException>(() => CircuitDiff.Compare(ca, Circuit.TopFraction(new ComputationGraph(3, 2), new float[new ComputationGraph(3, 2).Edges.Count], 0.1)));
    }

    [Fact]
    public void GreedySelectionKeepsOnlyEdgesWithAPathToTheLogits()
    {
        var g = new ComputationGraph(2, 2);
        // The best edge by |score| feeds head a0.h0, which reaches nothing: top-n keeps it, greedy must not.
        var scores = g.Edges.Select(e => e.Name switch { "input->a0.h0<q>" => 10f, "m1->logits" => 5f, "a1.h1->m1" => 4f, _ => 0.1f * (e.Index % 7) }).ToArray();
        Assert.True(Circuit.TopFraction(g, scores, 3.0 / g.Edges.Count).Included[g.Edges.Single(e => e.Name == "input->a0.h0<q>").Index]);
        var greedy = Circuit.Greedy(g, scores, 3.0 / g.Edges.Count);
        Assert.Equal(3, greedy.EdgeCount);
        Assert.Contains(greedy.Edges, e => e.Name == "m1->logits");
        Assert.Contains(greedy.Edges, e => e.Name == "a1.h1->m1");
        var inCircuit = greedy.Edges.Select(e => g.UpstreamName(e.Upstream)).Append("logits").ToHashSet();
        Assert.All(greedy.Edges, e => Assert.Contains(g.DownstreamNode(e.Downstream), inCircuit));
    }

    [Fact]
    public void DotListsTheCircuitsEdges()
    {
        var g = new ComputationGraph(2, 2);
        var scores = g.Edges.Select(e => e.Name == "a0.h1->a1.h0<v>" ? 5f : e.Name == "m1->logits" ? -3f : 0.01f).ToArray();
        var dot = CircuitDot.Write(Circuit.TopFraction(g, scores, 2.0 / g.Edges.Count));
        Assert.StartsWith("digraph", dot);
        Assert.Contains("\"a0.h1\" -> \"a1.h0\" [label=\"v\"", dot);
        Assert.Contains("\"m1\" -> \"logits\"", dot);
        Assert.Equal(2, dot.Split('\n').Count(l => l.Contains("->")));
    }
}
