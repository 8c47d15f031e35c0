namespace Evolution.Agents.Protocols;

/// <summary>Which facts a step asks about.</summary>
/// <param name="Kind">"sample" (Count facts drawn with the scenario seed), "all", "news" (the facts changed at the current epoch) or "misinformed" (the facts <see cref="Agent"/> was trained on wrongly).</param>
public sealed record FactSelection(string Kind, int Count = 0, string? Agent = null, string? Relation = null);

/// <summary>Who talks to whom in a debate round (<see cref="SocialNetwork"/> for the small-world and scale-free graphs).</summary>
public enum Topology { AllToAll, Ring, Star, Random, SmallWorld, ScaleFree, EdgeList }

/// <summary>One step of a scenario; <see cref="Index"/> is its position, part of every event id it records.</summary>
public abstract record ProtocolStep(int Index)
{
    public abstract string Protocol { get; }
    /// <summary>The agents taking part (null: all).</summary>
    public IReadOnlyList<string>? Agents { get; init; }
    /// <summary>Interventions this step runs under (<see cref="InterventionSpec"/>; empty: none). A conformity step runs its conditions
    /// as they are and again under each intervention (and its random-head controls); other steps' answers are given under them.</summary>
    public IReadOnlyList<InterventionSpec> Interventions { get; init; } = [];
}

/// <summary>
/// A causal intervention as a scenario declares it (<c>interventions:</c>): what to do (<see cref="Mechanisms.HeadAblation"/> of the
/// heads' outputs, or with <paramref name="PeerAttention"/> the attention paid to the peers' statements scaled by
/// <paramref name="Factor"/>), to which heads (<paramref name="Heads"/>, or null for "auto": each agent's <paramref name="Top"/>
/// conformity heads, found by EAP-IG on <paramref name="AutoFacts"/> facts the step does not ask, each read with
/// <paramref name="AutoPeers"/> confederates), for which agents (null: all). In a conformity step, the same number of random other
/// heads is ablated <paramref name="RandomDraws"/> times beside it, as the control.
/// </summary>
/// <param name="Top">With "auto": how many heads (0: a quarter of the agent's heads, at least one).</param>
public sealed record InterventionSpec(string Name, Mechanisms.HeadAblation Kind, IReadOnlyList<Mechanisms.HeadRef>? Heads, int Top = 0, double Factor = 0,
    bool PeerAttention = false, IReadOnlyList<string>? Agents = null, int RandomDraws = 5, int AutoFacts = 40, int AutoPeers = 3)
{
    public bool Auto => Heads is null;

    /// <summary>The intervention on these heads.</summary>
    public Mechanisms.Intervention On(IReadOnlyList<Mechanisms.HeadRef> heads, string? name = null) => new(name ?? Name, Kind, heads, Factor, PeerAttention);
}

/// <summary>Independent answers.</summary>
public sealed record QuizStep(int Index, FactSelection Facts) : ProtocolStep(Index)
{
    public override string Protocol => "quiz";
}

/// <summary>
/// Multi-agent debate (Du et al. 2023; MachineSoM, Zhang et al. 2024): round 0 independent, then each
/// round every agent reads its neighbours' previous answers. A round's strategy is "debate" (read
/// the neighbours) or "reflect" (read only one's own previous answer). <see cref="GroupSizes"/> runs
/// the debate for the first n agents for each n (debate scaling); empty means all agents once.
/// <see cref="EdgeProbability"/> is the random topology's; <see cref="Degree"/> and <see cref="Rewire"/> the small world's
/// (lattice degree k, rewiring probability β); <see cref="Attach"/> the scale-free graph's (edges per new node m);
/// <see cref="Edges"/> the edge list's (pairs of agent names, undirected).
/// </summary>
public sealed record DebateStep(int Index, FactSelection Facts, int Rounds, Topology Topology, IReadOnlyList<string> Strategies,
    IReadOnlyList<int> GroupSizes, double EdgeProbability = 0.5, int Degree = 4, double Rewire = 0.1, int Attach = 2,
    IReadOnlyList<(string A, string B)>? Edges = null) : ProtocolStep(Index)
{
    public override string Protocol => "debate";
    public string StrategyOf(int round) => Strategies.Count == 0 ? "debate" : Strategies[Math.Min(round - 1, Strategies.Count - 1)];
}

/// <summary>
/// Asch-style conformity test (Asch 1956; BenchForm, Weng et al. 2025): each agent answers alone, then
/// with k confederates who all give the same wrong answer (k from <see cref="WrongPeers"/>) and, with
/// <see cref="RightGuidance"/>, with k confederates giving the right answer.
/// </summary>
/// <param name="Ally">Also Asch's (1956) true-partner condition, "ally=k" for every k ≥ 3 of <paramref name="WrongPeers"/> (so that a
/// wrong majority remains): one of the k confederates states the truth (the middle one, ⌈k/2⌉, neither first nor nearest the
/// question), the others the wrong answer.</param>
/// <param name="CircuitFacts">Above 0: each agent's conformity circuit at this point of the run (its heads ranked by EAP-IG, as
/// <see cref="ConformityHeadSearch"/> finds them) on this many facts, the same draw at every conformity step, so that steps before
/// and after news or consolidation compare (the summary's <c>conformity_over_time</c>).</param>
public sealed record ConformityStep(int Index, FactSelection Facts, IReadOnlyList<int> WrongPeers, bool RightGuidance, bool Ally = false, int CircuitFacts = 0) : ProtocolStep(Index)
{
    public override string Protocol => "conformity";
}

/// <summary>A subset of agents learns the changes of a world epoch through their update policies; the world moves to that epoch.</summary>
public sealed record NewsStep(int Index, int Epoch, IReadOnlyList<string> Learners, int? Changes) : ProtocolStep(Index)
{
    public override string Protocol => "news";
}

/// <summary>After a debate, each agent commits the group's final majority answer through its update policy where its own answer differs.</summary>
public sealed record ConsolidateStep(int Index) : ProtocolStep(Index)
{
    public override string Protocol => "consolidate";
}

/// <summary>
/// Representation convergence across agents: linear CKA and mutual k-NN per layer on entity names (Huh et al. 2024);
/// with <paramref name="CircuitFacts"/> above 0, also circuit similarity: each agent's EAP-IG circuit of the same sampled
/// facts (<paramref name="EdgeFraction"/> of the edges), compared pairwise by edge Jaccard and weighted overlap.
/// </summary>
public sealed record ConvergenceStep(int Index, int Probes, int K = 10, int CircuitFacts = 0, double EdgeFraction = Mechanisms.Circuits.Circuit.DefaultEdgeFraction) : ProtocolStep(Index)
{
    public override string Protocol => "convergence";
}

/// <summary>
/// A population's spread of an epoch's news (<see cref="Population.Spread"/>): <paramref name="Facts"/> of the epoch's
/// changes (seeded sample), told at step 0 to a share <paramref name="Seeded"/> of the agents that can learn and, as a
/// false object, to a share <paramref name="Rumour"/>; then <paramref name="Steps"/> steps in which each agent reads up
/// to <paramref name="Reads"/> neighbours.
/// </summary>
/// <param name="CircuitFacts">When above 0, the conformity circuits of a few agents are found on that many of the spread's facts
/// before the news is told and after the last step, so the summary shows how the spread rewired them (0: none).</param>
/// <param name="CircuitAgents">How many agents of each update channel those circuits are found for: the first told ones of each
/// channel that can learn, and as many of the agents without one (whose circuits must not move).</param>
public sealed record SpreadStep(int Index, int Epoch, int Facts, double Seeded, double Rumour, int Steps, int Reads, int CircuitFacts = 0, int CircuitAgents = 2) : ProtocolStep(Index)
{
    public override string Protocol => "spread";
}
