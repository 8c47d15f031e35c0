using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using Evolution.Updates.Population;

namespace Evolution.Agents.Population;

/// <summary>One agent's question to a shared base: the agent's own change (null: none) and what it is asked.</summary>
public sealed record AgentQuery(AgentDelta? Delta, string Prompt, IReadOnlyList<string> Candidates);

/// <summary>One answer of an agent to analyse on a shared base (<see cref="SharedBase.AnalyzePeers"/>).</summary>
public sealed record AgentPeerQuery(AgentDelta? Delta, PeerQuery Query);

/// <summary>One agent's ranking question to a shared base (<see cref="RankingItem"/> as <see cref="CandidateRanker.Rank"/> takes it).</summary>
public sealed record AgentRankingItem(AgentDelta? Delta, RankingItem Item);

/// <summary>
/// A trained base that many agents share, read-only: an agent is the base plus its own <see cref="AgentDelta"/>.
/// Questions of many agents are answered together by <see cref="CandidateRanker"/>'s batching with prompt sharing (one row
/// per question: the prompt once, then its candidates, each seeing only the prompt and itself; rows sorted by length, in
/// chunks of <c>tokensPerBatch</c> padded tokens), each chunk in one forward pass in which every row adds its own agent's
/// change (<see cref="RowDeltaHooks"/>). Prompt sharing because a population asks many questions, each with a prompt
/// several times longer than its candidates: one row per candidate would compute every prompt once per candidate (8–30
/// times). A row is one question, so one agent, and the hooks stay per row. So the answers are those each agent would
/// give with its change written into a copy of the weights, while the base is never written and the agents own only
/// their deltas.
/// </summary>
public sealed class SharedBase
{
    readonly CandidateRanker ranker;

    public SharedBase(Gpt model, ITextTokenizer tokenizer, int tokensPerBatch = 16384)
    {
        Model = model;
        Tokenizer = tokenizer;
        ranker = new CandidateRanker(model, tokenizer, tokensPerBatch, sharePrompt: true);
    }

    public Gpt Model { get; }
    public ITextTokenizer Tokenizer { get; }

    /// <summary>Per query, the log-probability of each candidate given the prompt under the query's agent (as <see cref="CandidateRanker.ScoreMany"/>).</summary>
    public double[][] ScoreMany(IReadOnlyList<AgentQuery> queries)
    {
        CheckFits(queries.Select(q => q.Delta));
        return ranker.ScoreMany(queries.Select(q => (q.Prompt, q.Candidates)).ToList(), RowHooksOf(queries.Select(q => q.Delta).ToList()));
    }

    /// <summary>
    /// The forward passes <see cref="ScoreMany"/> makes over <paramref name="queries"/>, each as its queries' indices in order
    /// (<see cref="CandidateRanker.ForwardPasses"/>): scored one pass at a time, anywhere, they give the same beliefs to the bit.
    /// </summary>
    public IReadOnlyList<int[]> ForwardPasses(IReadOnlyList<AgentQuery> queries) =>
        ranker.ForwardPasses(queries.Select(q => (q.Prompt, q.Candidates)).ToList());

    /// <summary>Per query, the agent's belief over the candidates (softmax of <see cref="ScoreMany"/>, as an agent answers).</summary>
    public IReadOnlyList<double[]> Beliefs(IReadOnlyList<AgentQuery> queries) => ScoreMany(queries).Select(CandidateRanker.Softmax).ToList();

    /// <summary>Per item, where its answer ranks under the item's agent (as <see cref="CandidateRanker.Rank"/>).</summary>
    public IReadOnlyList<RankedAnswer> Rank(IReadOnlyList<AgentRankingItem> items)
    {
        CheckFits(items.Select(i => i.Delta));
        return ranker.Rank(items.Select(i => i.Item), RowHooksOf(items.Select(i => i.Delta).ToList()));
    }

    /// <summary>
    /// The mechanism records of answers given with peers (<see cref="PeerPressure.AnalyzeMany"/>), each under its agent's
    /// delta: the decomposition, the attention and the logit differences are those of the agent's own weights. Each
    /// query carries the log-probabilities its agent answered with (the base alone would score them without the delta).
    /// </summary>
    public IReadOnlyList<PeerPressureResult> AnalyzePeers(IReadOnlyList<AgentPeerQuery> queries)
    {
        CheckFits(queries.Select(q => q.Delta));
        var deltas = queries.Select(q => q.Delta).ToList();
        return PeerPressure.AnalyzeMany(Model, Tokenizer, [.. queries.Select(q => q.Query)], rows => RowDeltaHooks.For(rows.Select(r => deltas[r]).ToList(), Model.Config));
    }

    /// <summary>
    /// One agent's conformity circuit (<see cref="ConformityCircuits.Find"/>: EAP-IG on the peers' answer against its own, the
    /// corruption the peers stating its own): EAP-IG takes gradients through every weight, so the agent's delta is written into
    /// the base for the search and the base's weights are restored bit for bit after it (the originals are kept, not
    /// subtracted). Null when no contrast is usable.
    /// </summary>
    public ConformityCircuitResult? ConformityCircuit(AgentDelta? delta, IReadOnlyList<ConformityContrast> contrasts)
    {
        CheckFits([delta]);
        if (!contrasts.Any(c => ConformityCircuits.Usable(Tokenizer, c))) return null;
        using var written = delta?.ToWeightDelta(Model);
        written?.Apply(Model);
        try { return ConformityCircuits.Find(Model, Tokenizer, contrasts); }
        finally { written?.Revert(Model); }
    }

    /// <summary>Each batch row adds its query's agent's delta.</summary>
    RowHooks RowHooksOf(IReadOnlyList<AgentDelta?> queryDeltas) =>
        rowQueries => RowDeltaHooks.For(rowQueries.Select(q => queryDeltas[q]).ToList(), Model.Config);

    /// <summary>Every delta is checked before any forward, so a bad one fails the call, not a batch halfway.</summary>
    void CheckFits(IEnumerable<AgentDelta?> deltas)
    {
        foreach (var delta in deltas.OfType<AgentDelta>().Distinct()) delta.CheckFits(Model.Config);
    }
}
