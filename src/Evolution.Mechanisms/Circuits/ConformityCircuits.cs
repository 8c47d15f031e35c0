using Evolution.Core.Model;
using Evolution.Core.Text;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Circuits;

/// One contrast: WithPeers = the prompt the agent reads where its peers state PeersAnswer; WithOwnPeers = the same prompt with the peers stating OwnAnswer (the corruption). Answers without leading space.
public sealed record ConformityContrast(string WithPeers, string WithOwnPeers, string OwnAnswer, string PeersAnswer);

/// A head's total effect on logit(peers) − logit(own): the sum of the EAP-IG scores of the edges leaving the head (mean over contrasts); positive pushes towards the peers.
public sealed record HeadEffect(int Layer, int Head, double Score) { public string Name => $"L{Layer}H{Head}"; }

/// Heads ranked by Score, largest first (all heads of the model); Used/Skipped count contrasts (skipped: clean and corrupted prompts differ in token length, or the two answers share their first token).
public sealed record ConformityCircuitResult(Circuit Circuit, IReadOnlyList<HeadEffect> Heads, int Used, int Skipped, double MeanLogitDifferenceClean, double MeanLogitDifferenceCorrupted);

/// <summary>
/// Conformity circuits ("conformity under the microscope"): EAP-IG (Hanna et al. 2024, <see cref="EapIg"/>) on the contrast
/// between the peers' answer and the agent's own, both read with the peers present; the corrupted run is the same prompt
/// with the peers stating the agent's own answer, so only what the peers say differs (symmetric token replacement,
/// Zhang &amp; Nanda 2024) and the metric is logit(peers) − logit(own). A head's effect is the sum of the scores of the edges
/// leaving it: every later input reads the residual stream, which holds the head's output once, so the sum is the head's
/// own EAP-IG attribution (its output patched from the corrupted run). The heads with the largest effect are the agent's
/// conformity heads, cf. the sparse sets of mid-layer attention heads that carry sycophancy in larger models (Chen et al.
/// 2024, "From Yes-Men to Truth-Tellers", ICML; Genadi et al. 2026, "Sycophancy Hides Linearly in the Attention Heads").
/// </summary>
public static class ConformityCircuits
{
    public static ConformityCircuitResult Find(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<ConformityContrast> contrasts,
        double edgeFraction = Circuit.DefaultEdgeFraction, CircuitOptions? options = null)
    {
        options ??= new CircuitOptions();
        var examples = contrasts.Select(c => Example(tokenizer, c)).OfType<CircuitExample>().ToList();
        if (examples.Count == 0)
            throw new ArgumentException($"none of the {contrasts.Count} conformity contrasts is usable: each needs clean and corrupted prompts of the same token length and answers that differ at their first token");
        var graph = ComputationGraph.For(model);
        var scores = Circuit.MeanScores(EapIg.Scores(model, examples, options));
        var heads = Enumerable.Range(0, graph.Layers).SelectMany(l => Enumerable.Range(0, graph.Heads).Select(h =>
        {
            int node = graph.HeadNode(l, h);
            return new HeadEffect(l, h, graph.Edges.Where(e => e.Upstream == node).Sum(e => (double)scores[e.Index]));
        })).OrderByDescending(x => x.Score).ToList();
        var (clean, corrupted) = MeanLogitDifferences(model, examples, options);
        return new ConformityCircuitResult(Circuit.Greedy(graph, scores, edgeFraction), heads, examples.Count, contrasts.Count - examples.Count, clean, corrupted);
    }

    /// <summary>
    /// The answers a search sets against the agent's own (<paramref name="own"/>) as the confederates' wrong answer: up to three
    /// of the other candidates, drawn by <paramref name="random"/> (the caller's seeded draw, so every search repeats).
    /// </summary>
    public static IEnumerable<string> WrongAnswers(IReadOnlyList<string> candidates, string own, Random random)
    {
        var wrongs = candidates.Where(c => c != own).ToArray();
        random.Shuffle(wrongs);
        return wrongs.Take(3);
    }

    /// <summary>Whether a contrast can be one of <see cref="Find"/>'s examples (same token lengths clean and corrupted, answers apart at their first token).</summary>
    public static bool Usable(ITextTokenizer tokenizer, ConformityContrast contrast) => Example(tokenizer, contrast) is not null;

    /// <summary>The contrast as a circuit example (target: the peers' first token, distractor: the own answer's), or null when it cannot be one.</summary>
    static CircuitExample? Example(ITextTokenizer tokenizer, ConformityContrast c)
    {
        // The "subject" span is the peers' answer where they last state it: what the corruption replaces.
        var prompt = FactPrompt.Build(tokenizer, c.WithPeers, c.PeersAnswer, c.PeersAnswer);
        int[] corrupted = [.. tokenizer.PromptStart, .. tokenizer.Encode(c.WithOwnPeers)];
        int own = tokenizer.Encode(" " + c.OwnAnswer)[0];
        if (corrupted.Length != prompt.Tokens.Length || own == prompt.TargetToken) return null;
        return new CircuitExample(prompt, corrupted, [own], [prompt.TargetToken, own]);
    }

    /// <summary>The metric on the clean and on the corrupted prompts (plain forward passes), averaged over the examples.</summary>
    static (double Clean, double Corrupted) MeanLogitDifferences(Gpt model, IReadOnlyList<CircuitExample> examples, CircuitOptions options)
    {
        double clean = 0, corrupted = 0;
        using var _ = no_grad();
        for (int start = 0; start < examples.Count; start += options.FactsPerBatch)
        {
            using var scope = NewDisposeScope();
            using var batch = CircuitBatch.Build(model, examples.Skip(start).Take(options.FactsPerBatch).ToList(), options, options.Seed + start);
            clean += batch.Metric(model.forward(batch.Tokens)).sum().item<float>();
            corrupted += batch.Metric(model.RunWithHooks(batch.Tokens, batch.Corruption(ones(batch.Rows, device: batch.Tokens.device)))).sum().item<float>();
        }
        return (clean / examples.Count, corrupted / examples.Count);
    }
}
