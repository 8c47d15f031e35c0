namespace Evolution.Agents;

/// <summary>A question about one fact; <see cref="Candidates"/> are the possible answers, each with its leading space.</summary>
public sealed record Question(int Subject, string Relation, string Prompt, IReadOnlyList<string> Candidates);

/// <summary>One question to answer, with what the peers said (empty for an independent answer).</summary>
/// <param name="Intervention">A causal intervention the whole answer runs under (its heads ablated or scaled, or its attention to the
/// peers scaled); null: the agent as it is.</param>
public sealed record AskItem(Question Question, IReadOnlyList<PeerStatement> Peers, Mechanisms.Intervention? Intervention = null);

/// <summary>What a peer said in the previous round, as the statement sentence the agent reads (e.g. "Kemtaro Drassil was born in Pellamund.").</summary>
public sealed record PeerStatement(string Agent, string Answer, string Sentence);

/// <summary>
/// An agent's answer. <see cref="OwnAnswer"/> is what it says from its weights and memory alone;
/// <see cref="Answer"/> what it says after reading its peers (the same when it kept its own answer
/// or had no peers). Probabilities are normalised over the candidates. <see cref="Distribution"/>
/// holds the final probability of every candidate, so metrics such as the memorization ratio can
/// be computed for any pair of answers.
/// </summary>
public sealed record AgentAnswer(string Agent, string Answer, double Probability, string OwnAnswer, double OwnProbability,
    bool ReadPeers, IReadOnlyList<string> Retrieved, IReadOnlyDictionary<string, double> Distribution, double Seconds, PeerTrace? PeerTrace = null)
{
    /// <summary>The cluster node that answered (its address), when the agent is a sharded entity; null in a single-process run.</summary>
    public string? Node { get; init; }
}

/// <summary>
/// What happened inside an answer given with peers who said otherwise (<see cref="Mechanisms.PeerPressure"/>, condensed):
/// the logit difference own − peers' answer alone and with the peers, the memorization ratio p_own / (p_own + p_peers),
/// the three components whose direct effect moved furthest towards the peers, the head that attends most to the peers'
/// statements from the answer position (and that share), the mean such share per layer, and the seconds it took.
/// </summary>
public sealed record PeerTrace(string PeersAnswer, double LogitDifferenceAlone, double LogitDifferenceWithPeers, double MemorizationRatio,
    IReadOnlyList<ComponentShift> TowardsPeers, string TopReader, double TopReaderShare, IReadOnlyList<double> AttentionToPeersByLayer, double Seconds);

/// <summary>A component's change in direct effect on logit(own) − logit(peers) when the peers speak (negative: towards them).</summary>
public sealed record ComponentShift(string Component, double Shift);

/// <summary>A news item: a fact of the world as of <see cref="Epoch"/>, told as one statement sentence.</summary>
public sealed record NewsItem(int Subject, string Relation, string Object, int Epoch, string Statement, string Prompt);

/// <summary>What an agent did with a news item.</summary>
public sealed record UpdateOutcome(string Agent, string Channel, bool Applied, long BytesStored, double Seconds, string? Note = null);
