using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>
/// An answer given with peers: the agent's own answer (what it gives alone) against the answer its peers state, in the
/// context line the agent reads ("Context: &lt;peer statements&gt; &lt;query&gt;").
/// </summary>
public sealed record PeerCase(IReadOnlyList<string> PeerStatements, string Query, string OwnAnswer, string PeersAnswer, bool MarkStatements = false)
{
    public string Prompt => ContextFormat.Line(PeerStatements, Query, MarkStatements);

    /// <summary>The two prompts and where the statements sit: "Context: " then the statements, then the query.</summary>
    public PeerReading Reading => new(Query, Prompt, "Context: ".Length, $"Context: {string.Join(" ", PeerStatements)}".Length);
}

/// <summary>
/// What an agent read alone and with its peers: <see cref="WithPeers"/>[<see cref="PeersStart"/>..<see cref="PeersEnd"/>) is
/// the peers' statements (characters; the prompt may hold retrieved statements before them), <see cref="Alone"/> the
/// prompt it answered from before they spoke.
/// </summary>
public sealed record PeerReading(string Alone, string WithPeers, int PeersStart, int PeersEnd);

/// <summary>
/// One component's direct effect on logit(own) − logit(peers), alone and with the peers (positive favours the own answer).
/// Over all components (embeddings, heads, attention biases, MLPs, the final norm's bias) they add up to the two logit
/// differences.
/// </summary>
public sealed record PeerComponent(string Component, int? Layer, int? Head, double Alone, double WithPeers)
{
    /// <summary>How far the peers moved this component towards their answer (negative: towards the peers).</summary>
    public double Shift => WithPeers - Alone;
}

/// <summary>
/// What happened inside one answer given with peers (<see cref="PeerPressure"/>). <see cref="MemorizationRatio"/> is
/// p_own / (p_own + p_peers) over the two answers' sequence probabilities with the peers present (1: the agent kept its
/// answer, 0: it took the peers'). Attention is from the answer position (the prompt's last token), per layer and head:
/// the mass on the peer statements' tokens and on the query's tokens.
/// </summary>
public sealed record PeerPressureResult(string Prompt, string OwnAnswer, string PeersAnswer, double LogPOwn, double LogPPeers, double MemorizationRatio,
    double LogitDifferenceAlone, double LogitDifferenceWithPeers, IReadOnlyList<PeerComponent> Components, double[][] AttentionToPeers, double[][] AttentionToQuery)
{
    public bool Conforms => LogPPeers > LogPOwn;

    /// <summary>The components that moved most towards the peers' answer, most first.</summary>
    public IEnumerable<PeerComponent> TowardsPeers => Components.Where(c => c.Shift < 0).OrderBy(c => c.Shift);
}

/// <summary>
/// The mechanism record of an answer under peer pressure (the conformity issue's per-answer record): the logit
/// difference between the agent's own answer and its peers' answer, alone and with the peers, split by component with
/// direct logit attribution (per head and per MLP; Elhage et al. 2021, as <see cref="DirectLogitAttribution"/>), the
/// attention from the answer position to the peers' statements against the query (the heads that read the peers;
/// cf. the peer-pressure and sycophancy heads localised in mid layers of larger models), and the memorization ratio of
/// Longpre et al. (2021) with the peers as the context. Answers are compared by their first tokens for the logit
/// difference and by their whole sequences for the ratio.
/// </summary>
public static class PeerPressure
{
    public static PeerPressureResult Analyze(Gpt model, ITextTokenizer tokenizer, PeerCase peerCase)
    {
        if (peerCase.PeerStatements.Count == 0) throw new ArgumentException("a peer case needs at least one peer statement");
        return Analyze(model, tokenizer, peerCase.Reading, peerCase.OwnAnswer, peerCase.PeersAnswer);
    }

    /// <param name="ownAnswer">The agent's answer alone, without its leading space; <paramref name="peersAnswer"/> likewise.</param>
    public static PeerPressureResult Analyze(Gpt model, ITextTokenizer tokenizer, PeerReading reading, string ownAnswer, string peersAnswer)
    {
        if (reading.PeersEnd <= reading.PeersStart || reading.PeersEnd > reading.WithPeers.Length)
            throw new ArgumentException($"peer statements at [{reading.PeersStart}, {reading.PeersEnd}) of a {reading.WithPeers.Length}-character prompt");
        var scores = new CandidateRanker(model, tokenizer).Score(reading.WithPeers, [" " + ownAnswer, " " + peersAnswer]);
        int own = tokenizer.Encode(" " + ownAnswer)[0], peers = tokenizer.Encode(" " + peersAnswer)[0];
        if (own == peers) throw new ArgumentException($"'{ownAnswer}' and '{peersAnswer}' start with the same token: their logit difference is 0");

        var start = tokenizer.PromptStart;
        int[] alone = [.. start, .. tokenizer.Encode(reading.Alone)];
        int[] withPeers = [.. start, .. tokenizer.Encode(reading.WithPeers)];
        var aloneParts = DirectLogitAttribution.Decompose(model, alone, alone.Length - 1, own, peers);
        var withParts = DirectLogitAttribution.Decompose(model, withPeers, withPeers.Length - 1, own, peers);
        var components = aloneParts.Contributions.Zip(withParts.Contributions, (a, w) => new PeerComponent(a.Component, a.Layer, a.Head, a.Contribution, w.Contribution))
            .Append(new PeerComponent("ln_final.bias", null, null, aloneParts.Bias, withParts.Bias)).ToList(); // so the components add up to the differences

        // Token spans from the characters: word boundaries are token boundaries (as FactPrompt relies on), so the tokens
        // of the text before the statements, and through them, count their positions.
        int peersStart = start.Count + tokenizer.Encode(reading.WithPeers[..reading.PeersStart].TrimEnd()).Length;
        int peersEnd = start.Count + tokenizer.Encode(reading.WithPeers[..reading.PeersEnd]).Length;
        var (toPeers, toQuery) = AttentionShares(model, withPeers, peersStart, peersEnd);
        return new PeerPressureResult(reading.WithPeers, ownAnswer, peersAnswer, scores[0], scores[1],
            Core.Evaluation.MemorizationRatio.OfLogProbabilities(scores[0], scores[1]), aloneParts.Logit, withParts.Logit, components, toPeers, toQuery);
    }

    /// <summary>Per layer and head, the last position's attention mass on tokens [peersStart, peersEnd) and on the tokens after them.</summary>
    static (double[][] ToPeers, double[][] ToQuery) AttentionShares(Gpt model, int[] tokens, int peersStart, int peersEnd)
    {
        int layers = model.Config.NLayers, last = tokens.Length - 1;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (_, cache) = model.RunWithCache(LogitLens.Tokens(model, tokens), n => n.EndsWith("attn.hook_pattern"));
        using (cache)
        {
            double[] Sum(int l, int from, int to) => cache[$"blocks.{l}.attn.hook_pattern"][0, TensorIndex.Colon, last, TensorIndex.Slice(from, to)]
                .sum(-1).to(ScalarType.Float64).cpu().data<double>().ToArray();
            return (Enumerable.Range(0, layers).Select(l => Sum(l, peersStart, peersEnd)).ToArray(),
                    Enumerable.Range(0, layers).Select(l => Sum(l, peersEnd, tokens.Length)).ToArray());
        }
    }
}
