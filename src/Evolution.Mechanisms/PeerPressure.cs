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
    public static PeerPressureResult Analyze(Gpt model, ITextTokenizer tokenizer, PeerReading reading, string ownAnswer, string peersAnswer) =>
        AnalyzeMany(model, tokenizer, [new PeerQuery(reading, ownAnswer, peersAnswer)])[0];

    /// <summary>
    /// <see cref="Analyze(Gpt, ITextTokenizer, PeerReading, string, string)"/> for many answers at once: the prompts alone and
    /// with the peers run as padded batches (padding after each prompt changes nothing before it under causal attention), so a
    /// step's records cost a few batched forwards instead of two forwards and their small reads per answer.
    /// </summary>
    /// <param name="rowHooks">Hooks for each batched forward, given the indices of the queries in its rows (e.g. each row's
    /// agent's own weight change on a shared base); null: the model as it is. Both forwards of a batch run under them, and the
    /// cached activations are read as the hooks leave them, so the decomposition is that of the hooked model.</param>
    public static IReadOnlyList<PeerPressureResult> AnalyzeMany(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<PeerQuery> queries, RowHooks? rowHooks = null)
    {
        if (rowHooks is not null && queries.FirstOrDefault(q => q.LogProbabilities is null) is { } unscored)
            throw new ArgumentException($"'{unscored.Reading.WithPeers}': a hooked analysis needs the answers' log-probabilities scored under the same hooks");
        var prepared = queries.Select(q => Prepare(model, tokenizer, q)).ToList();
        var results = new List<PeerPressureResult>(queries.Count);
        int layers = model.Config.NLayers;
        for (int from = 0; from < prepared.Count; from += RowsPerBatch)
        {
            var batch = prepared.Skip(from).Take(RowsPerBatch).ToList();
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var rows = Enumerable.Range(from, batch.Count).ToList();
            var (aloneLogits, aloneCache) = model.RunWithCache(Padded(model, batch.Select(p => p.Alone).ToList()), n => DirectLogitAttribution.Reads(n, layers), hooks: rowHooks?.Invoke(rows));
            // One forward with the peers serves both the decomposition and the attention paid to them.
            var (withLogits, withCache) = model.RunWithCache(Padded(model, batch.Select(p => p.WithPeers).ToList()),
                n => DirectLogitAttribution.Reads(n, layers) || n.EndsWith("attn.hook_pattern"), hooks: rowHooks?.Invoke(rows));
            using (aloneCache)
            using (withCache)
                for (int row = 0; row < batch.Count; row++)
                {
                    var (q, p) = (batch[row].Query, batch[row]);
                    var aloneParts = DirectLogitAttribution.Decompose(model, aloneLogits, aloneCache, p.Alone.Length - 1, p.Own, p.Peers, row);
                    var withParts = DirectLogitAttribution.Decompose(model, withLogits, withCache, p.WithPeers.Length - 1, p.Own, p.Peers, row);
                    var components = aloneParts.Contributions.Zip(withParts.Contributions, (a, w) => new PeerComponent(a.Component, a.Layer, a.Head, a.Contribution, w.Contribution))
                        .Append(new PeerComponent("ln_final.bias", null, null, aloneParts.Bias, withParts.Bias)).ToList(); // so the components add up to the differences
                    var (toPeers, toQuery) = AttentionShares(model, withCache, row, p.WithPeers.Length - 1, p.PeersStart, p.PeersEnd);
                    var (logPOwn, logPPeers) = p.LogProbabilities;
                    results.Add(new PeerPressureResult(q.Reading.WithPeers, q.OwnAnswer, q.PeersAnswer, logPOwn, logPPeers,
                        Core.Evaluation.MemorizationRatio.OfLogProbabilities(logPOwn, logPPeers), aloneParts.Logit, withParts.Logit, components, toPeers, toQuery));
                }
        }
        return results;
    }

    /// <summary>
    /// Rows per batched forward: enough to amortise a forward's fixed cost, few enough to keep the cached activations small. Queries
    /// go in order, so a large batch split at multiples of this is analysed by the very same forwards.
    /// </summary>
    public const int RowsPerBatch = 32;

    sealed record Prepared(PeerQuery Query, int[] Alone, int[] WithPeers, int PeersStart, int PeersEnd, int Own, int Peers, (double Own, double Peers) LogProbabilities);

    static Prepared Prepare(Gpt model, ITextTokenizer tokenizer, PeerQuery query)
    {
        var (reading, ownAnswer, peersAnswer) = (query.Reading, query.OwnAnswer, query.PeersAnswer);
        if (reading.PeersEnd <= reading.PeersStart || reading.PeersEnd > reading.WithPeers.Length)
            throw new ArgumentException($"peer statements at [{reading.PeersStart}, {reading.PeersEnd}) of a {reading.WithPeers.Length}-character prompt");
        int own = tokenizer.Encode(" " + ownAnswer)[0], peers = tokenizer.Encode(" " + peersAnswer)[0];
        if (own == peers) throw new ArgumentException($"'{ownAnswer}' and '{peersAnswer}' start with the same token: their logit difference is 0");
        var start = tokenizer.PromptStart;
        // Token spans from the characters: word boundaries are token boundaries (as FactPrompt relies on), so the tokens
        // of the text before the statements, and through them, count their positions.
        int peersStart = start.Count + tokenizer.Encode(reading.WithPeers[..reading.PeersStart].TrimEnd()).Length;
        int peersEnd = start.Count + tokenizer.Encode(reading.WithPeers[..reading.PeersEnd]).Length;
        var logProbabilities = query.LogProbabilities ?? Score(model, tokenizer, reading.WithPeers, ownAnswer, peersAnswer);
        return new Prepared(query, [.. start, .. tokenizer.Encode(reading.Alone)], [.. start, .. tokenizer.Encode(reading.WithPeers)], peersStart, peersEnd, own, peers, logProbabilities);
    }

    static Tensor Padded(Gpt model, IReadOnlyList<int[]> rows)
    {
        int length = rows.Max(r => r.Length);
        var tokens = new long[rows.Count * length];
        for (int r = 0; r < rows.Count; r++)
            for (int t = 0; t < length; t++) tokens[r * length + t] = rows[r][Math.Min(t, rows[r].Length - 1)];
        return tensor(tokens, [rows.Count, length], device: model.Unembedding.device);
    }

    static (double, double) Score(Gpt model, ITextTokenizer tokenizer, string prompt, string ownAnswer, string peersAnswer)
    {
        var scores = new CandidateRanker(model, tokenizer).Score(prompt, [" " + ownAnswer, " " + peersAnswer]);
        return (scores[0], scores[1]);
    }

    /// <summary>Per layer and head, the mass position <paramref name="last"/> of <paramref name="row"/> attends to tokens [peersStart, peersEnd) with and to the tokens after them, up to itself.</summary>
    static (double[][] ToPeers, double[][] ToQuery) AttentionShares(Gpt model, ActivationCache cache, int row, int last, int peersStart, int peersEnd)
    {
        int layers = model.Config.NLayers, heads = model.Config.NHeads;
        // [layers, heads, keys] at the answer position, summed over the two spans and read back once.
        var rows = stack(Enumerable.Range(0, layers).Select(l => cache[$"blocks.{l}.attn.hook_pattern"][row, TensorIndex.Colon, last]).ToList());
        var shares = stack([rows[TensorIndex.Ellipsis, TensorIndex.Slice(peersStart, peersEnd)].sum(-1), rows[TensorIndex.Ellipsis, TensorIndex.Slice(peersEnd, last + 1)].sum(-1)])
            .to(ScalarType.Float64).cpu().data<double>().ToArray();
        double[][] Part(int part) => Enumerable.Range(0, layers).Select(l => shares.AsSpan((part * layers + l) * heads, heads).ToArray()).ToArray();
        return (Part(0), Part(1));
    }
}

/// <summary>One answer to analyse (<see cref="PeerPressure.AnalyzeMany"/>).</summary>
/// <param name="OwnAnswer">The agent's answer alone, without its leading space; <paramref name="PeersAnswer"/> likewise.</param>
/// <param name="LogProbabilities">The two answers' sequence log-probabilities with the peers present when the caller has scored them
/// already (any offset common to both, such as a softmax over the candidates, leaves the ratio as it is); null: scored here.</param>
public sealed record PeerQuery(PeerReading Reading, string OwnAnswer, string PeersAnswer, (double Own, double Peers)? LogProbabilities = null);
