using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Mechanisms.Circuits;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

public class ConformityCircuitTests
{
    static readonly string[] People = ["Anna", "Bob", "Carl", "Dora"];
    static readonly string[] Cities = ["Paris", "Rome", "Berlin", "Madrid", "Vienna"];

    static readonly ITextTokenizer Tokenizer = CompactTokenizer.Build(
        [.. People.SelectMany(p => Cities.Select(c => $"Context: {p} was born in {c}. Q: Where was {p} born? A: {c}")), "Context: Anna was born in Amsterdam Pellamund."]);

    /// <summary>A random two-layer model over the tokenizer, weights scaled up (as CircuitTests) so heads matter and are far from linear.</summary>
    static Gpt Model(int seed)
    {
        var model = new Gpt(new GptConfig { VocabSize = Tokenizer.VocabSize, ContextLength = 64, DModel = 32, NLayers = 2, NHeads = 4 }, seed);
        using var _ = no_grad();
        using var thirty = 30.ToScalar();
        using var eight = 8.ToScalar();
        model.TokenEmbedding.weight!.mul_(thirty);
        foreach (var block in model.Blocks)
        {
            block.Attn.QkvProjection.weight!.mul_(eight);
            block.Attn.OutputProjection.weight!.mul_(eight);
        }
        return model;
    }

    /// <summary>"Context: &lt;peers statements&gt; Q: Where was p born? A:" with <paramref name="peers"/> stating the peers' answer.</summary>
    static ConformityContrast Contrast(string person, string own, string peersAnswer, int peers = 2)
    {
        string Line(string said) => $"Context: {string.Join(" ", Enumerable.Repeat($"{person} was born in {said}.", peers))} Q: Where was {person} born? A:";
        return new ConformityContrast(Line(peersAnswer), Line(own), own, peersAnswer);
    }

    static List<ConformityContrast> Contrasts() =>
        [.. People.Select((p, i) => Contrast(p, Cities[i], Cities[(i + 1) % Cities.Length]))];

    [Fact]
    public void HeadEffectsMatchPatchingEachHeadsOutputFromTheCorruptedRun()
    {
        using var model = Model(1);
        var contrasts = Contrasts();
        var options = new CircuitOptions(IgSteps: 20);
        var result = ConformityCircuits.Find(model, Tokenizer, contrasts, options: options);
        Assert.Equal(contrasts.Count, result.Used);
        Assert.Equal(0, result.Skipped);
        Assert.Equal(model.Config.NLayers * model.Config.NHeads, result.Heads.Count);
        Assert.Equal(result.Heads.OrderByDescending(h => h.Score).Select(h => h.Name), result.Heads.Select(h => h.Name));

        // Exact: every edge leaving the head ablated at once, i.e. the head's output patched from the corrupted run.
        var g = ComputationGraph.For(model);
        var examples = contrasts.Select(c => new CircuitExample(FactPrompt.Build(Tokenizer, c.WithPeers, c.PeersAnswer, c.PeersAnswer),
            [.. Tokenizer.PromptStart, .. Tokenizer.Encode(c.WithOwnPeers)], [Tokenizer.Encode(" " + c.OwnAnswer)[0]], [])).ToList();
        using var __ = no_grad();
        using var batch = CircuitBatch.Build(model, examples, options, 0);
        var reference = EdgePatching.UpstreamOutputs(model, batch.Tokens, batch.Corruption(ones(batch.Rows)));
        var clean = batch.Metric(model.forward(batch.Tokens));
        var corrupted = batch.Metric(model.RunWithHooks(batch.Tokens, batch.Corruption(ones(batch.Rows))));
        Assert.Equal(clean.mean().item<float>(), result.MeanLogitDifferenceClean, 4);
        Assert.Equal(corrupted.mean().item<float>(), result.MeanLogitDifferenceCorrupted, 4);
        Assert.NotEqual(result.MeanLogitDifferenceClean, result.MeanLogitDifferenceCorrupted, 3);
        var exact = result.Heads.Select(h =>
        {
            var mask = new float[g.UpstreamCount * g.DownstreamCount];
            foreach (var e in g.Edges.Where(e => e.Upstream == g.HeadNode(h.Layer, h.Head))) mask[e.Upstream * g.DownstreamCount + e.Downstream] = 1;
            var ablate = tensor(mask, [1, g.UpstreamCount, g.DownstreamCount]).expand(batch.Rows, -1, -1);
            return (clean - batch.Metric(EdgePatching.Run(model, batch.Tokens, ablate, reference))).mean().item<float>();
        }).ToList();
        var eap = result.Heads.Select(h => (float)h.Score).ToList();
        var report = string.Join(", ", result.Heads.Select((h, i) => $"{h.Name} {h.Score:F4}/{exact[i]:F4}"));
        Assert.True(ExactEdgeScores.Spearman(eap, exact) >= 0.8, report);
        Assert.Equal(exact.IndexOf(exact.MaxBy(Math.Abs)), eap.IndexOf(eap.MaxBy(Math.Abs)));
        double largest = exact.Max(Math.Abs);
        Assert.All(eap.Zip(exact), x => Assert.True(Math.Abs(x.First - x.Second) <= 0.25 * largest, report));
    }

    [Fact]
    public void ContrastsThatDoNotAlignAreSkippedAndCounted()
    {
        using var model = Model(2);
        var contrasts = Contrasts();
        // "Amsterdam Pellamund" takes more tokens than "Paris": the prompts no longer align. The same answer twice shares its first token.
        var result = ConformityCircuits.Find(model, Tokenizer, [.. contrasts, Contrast("Anna", "Paris", "Amsterdam Pellamund"), Contrast("Bob", "Rome", "Rome")]);
        Assert.Equal(contrasts.Count, result.Used);
        Assert.Equal(2, result.Skipped);
        Assert.Equal(ConformityCircuits.Find(model, Tokenizer, contrasts).Heads, result.Heads);
    }

    [Fact]
    public void NoUsableContrastIsAnError()
    {
        using var model = Model(3);
        var error = Assert.Throws<ArgumentException>(() => ConformityCircuits.Find(model, Tokenizer, [Contrast("Anna", "Paris", "Amsterdam Pellamund")]));
        Assert.Contains("none of the 1 conformity contrasts is usable", error.Message);
        Assert.Throws<ArgumentException>(() => ConformityCircuits.Find(model, Tokenizer, []));
    }
}
