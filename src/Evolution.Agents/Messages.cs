namespace Evolution.Agents;

// Messages between the moderator, the tracer and agents: immutable records. Every request
// carries a Key, echoed in the reply, so a reply can be matched and recorded exactly once.

/// <summary>Answer questions (batched: one forward pass serves many); an item's peers are empty for an independent answer.</summary>
public sealed record AskAgent(string Key, IReadOnlyList<AskItem> Items);
public sealed record AgentAnswered(string Key, IReadOnlyList<AgentAnswer> Answers);

/// <summary>News arrives: store it, edit on it, or ignore it, by the agent's update policy.</summary>
public sealed record LearnNews(string Key, IReadOnlyList<NewsItem> News);
public sealed record NewsLearned(string Key, UpdateOutcome Outcome);

/// <summary>
/// Everything the agent took in so far as the run database recorded it (<see cref="Recording.RunDatabase.History"/>), in order,
/// with what each did: an agent built on a node takes in what it lacks (edits into its weights and statements into its memory,
/// replayed in order; a history that disagrees with its own is replayed from the checkpoint), so no agent state lives only on a worker.
/// </summary>
public sealed record RestoreLearned(IReadOnlyList<LearnNews> Learned, IReadOnlyList<UpdateOutcome> Outcomes);

/// <summary>Is the agent there? Answered once it is built, with its history taken in (after a node loss: where it lives now).</summary>
public sealed record ReachAgent(string Agent);
public sealed record AgentReached(string Agent, string? Node);

/// <summary>Asks the recorder for an agent's history; the reply is <see cref="RestoreLearned"/>.</summary>
public sealed record ReadHistory(string Agent);

/// <summary>Told the recorder by an agent built on a node, once it took its history in (<see cref="Recording.HomeEvent"/>).</summary>
public sealed record AgentHomed(string Agent, string Node, int Replayed, DateTime Built);

/// <summary>Hidden states of the last token of each text, per layer (for representation convergence).</summary>
public sealed record TakeSnapshot(string Key, IReadOnlyList<string> Texts);
public sealed record SnapshotTaken(string Key, string Agent, IReadOnlyList<(string Hook, double[][] Features)> Layers);

/// <summary>The agent's knowledge circuit for each fact (for circuit similarity across agents).</summary>
public sealed record TraceCircuits(string Key, IReadOnlyList<Protocols.FactRef> Facts, int Epoch, double EdgeFraction);
public sealed record CircuitsTraced(string Key, string Agent, IReadOnlyList<Mechanisms.Circuits.Circuit?> Circuits);

/// <summary>
/// Find the agent's conformity heads (<see cref="Mechanisms.Circuits.ConformityCircuits"/>): each probe is a question read with
/// confederates stating a wrong answer, and the same confederates stating the agent's own answer (the corruption).
/// </summary>
public sealed record FindConformityHeads(string Key, IReadOnlyList<ConformityProbe> Probes);
public sealed record ConformityHeadsFound(string Key, string Agent, IReadOnlyList<Mechanisms.Circuits.HeadEffect> Heads, int Used);

/// <param name="WrongPeers">The confederates' sentences stating <paramref name="PeersAnswer"/>; <paramref name="OwnPeers"/> the same sentences stating <paramref name="OwnAnswer"/>.</param>
public sealed record ConformityProbe(Question Question, IReadOnlyList<string> WrongPeers, IReadOnlyList<string> OwnPeers, string OwnAnswer, string PeersAnswer);

/// <summary>Fault injection: the agent throws while handling its next message (tests and drills of supervision).</summary>
public sealed record FailNextMessage(string Reason);
public sealed record FaultArmed;
