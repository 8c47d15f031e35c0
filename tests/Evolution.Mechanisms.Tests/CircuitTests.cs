using Evolution.Core.Model;
using Evolution.Mechanisms.Circuits;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

public class CircuitTests
{
    static readonly GptConfig Tiny = new() { VocabSize = 30, ContextLength = 12, DModel = 16, NLayers = 2, NHeads = 2 };

    /// <summary>A random tiny model with weights scaled up so attention patterns and MLPs are far from linear.</summary>
    static Gpt TinyModel(int seed)
    {
        var model = new Gpt(Tiny, seed);
        using var _ = no_grad();
        model.TokenEmbedding.weight!.mul_(30);
        foreach (var block in model.Blocks)
        {
            block.Attn.QkvProjection.weight!.mul_(8);
            block.Attn.OutputProjection.weight!.mul_(8);
            block.Mlp.In.weight!.mul_(8);
            block.Mlp.Out.weight!.mul_(8);
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

    [Fact]
    public void AblatingNoEdgeIsTheCleanRunAndEveryEdgeTheCorruptedRun()
    {
        var model = TinyModel(1);
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

    [Fact]
    public void EapIgRanksEdgesLikeExactAblation()
    {
        var model = TinyModel(2);
        var examples = Examples(4, 2);
        var options = new CircuitOptions(IgSteps: 10);
        var eap = Circuit.MeanScores(EapIg.Scores(model, examples, options));
        var exact = Circuit.MeanScores(ExactEdgeScores.Scores(model, examples, options));
        double rho = ExactEdgeScores.Spearman(eap.Select(Math.Abs).ToArray(), exact.Select(Math.Abs).ToArray());
        Assert.True(rho >= 0.7, $"Spearman(|EAP-IG|, |exact|) = {rho:F3}");
    }
}
