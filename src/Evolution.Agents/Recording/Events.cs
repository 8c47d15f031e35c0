namespace Evolution.Agents.Recording;

// Rows of the run database (LiteDB maps public get/set properties; Id is the document key).
// Ids are deterministic (step, protocol, condition, round, agent, fact), so writing an event twice,
// as a resumed run may, leaves one row.

/// <summary>One answer of one agent to one question in one step and round.</summary>
public sealed class AnswerEvent
{
    public string Id { get; set; } = "";
    public int Step { get; set; }
    public string Protocol { get; set; } = "";
    /// <summary>Sub-experiment inside a step, e.g. "wrong=3" in a conformity test or "n=5" in a scaling sweep.</summary>
    public string Condition { get; set; } = "";
    public int Round { get; set; }
    public string Agent { get; set; } = "";
    public int Subject { get; set; }
    public string Relation { get; set; } = "";
    public int Epoch { get; set; }
    public string Truth { get; set; } = "";
    /// <summary>The object before the latest change of this fact, when it changed (for diffusion and memorization ratio).</summary>
    public string? Previous { get; set; }
    public string Answer { get; set; } = "";
    public double Probability { get; set; }
    public double TruthProbability { get; set; }
    public double PreviousProbability { get; set; }
    public string OwnAnswer { get; set; } = "";
    public double OwnProbability { get; set; }
    public bool ReadPeers { get; set; }
    public int Peers { get; set; }
    /// <summary>Peers that stated a wrong answer.</summary>
    public int WrongPeers { get; set; }
    /// <summary>The answer every peer gave, when they all agreed (the confederates' answer in a conformity test).</summary>
    public string? PeerConsensus { get; set; }
    /// <summary>The answer most peers gave (ties: the first in ordinal order); null without peers. With an ally among three or more, the confederates' wrong answer.</summary>
    public string? PeerMajority { get; set; }
    /// <summary>The causal intervention the answer ran under (<see cref="Mechanisms.Intervention.Describe"/>); null: none.</summary>
    public string? Intervention { get; set; }
    public List<string> Retrieved { get; set; } = [];
    public double Seconds { get; set; }
    /// <summary>The mechanism record of an answer read with peers who said otherwise (<see cref="Agents.PeerTrace"/>); null otherwise.</summary>
    public PeerTraceRecord? PeerTrace { get; set; }
    /// <summary>The cluster node the agent lived on when it answered (<see cref="AgentAnswer.Node"/>): a change between two answers
    /// of one agent is a move to another node. Null in a single-process run.</summary>
    public string? Node { get; set; }
    public bool Correct => Answer == Truth;
}

/// <summary>An <see cref="Agents.PeerTrace"/> as stored with its answer.</summary>
public sealed class PeerTraceRecord
{
    public string PeersAnswer { get; set; } = "";
    public double LogitDifferenceAlone { get; set; }
    public double LogitDifferenceWithPeers { get; set; }
    public double MemorizationRatio { get; set; }
    /// <summary>The components that moved furthest towards the peers, as "component:shift" (e.g. "L1H0:-0.82").</summary>
    public List<string> TowardsPeers { get; set; } = [];
    public string TopReader { get; set; } = "";
    public double TopReaderShare { get; set; }
    public List<double> AttentionToPeersByLayer { get; set; } = [];
    public double Seconds { get; set; }

    public static PeerTraceRecord? Of(PeerTrace? trace) => trace is null ? null : new PeerTraceRecord
    {
        PeersAnswer = trace.PeersAnswer, LogitDifferenceAlone = trace.LogitDifferenceAlone, LogitDifferenceWithPeers = trace.LogitDifferenceWithPeers,
        MemorizationRatio = trace.MemorizationRatio, TowardsPeers = [.. trace.TowardsPeers.Select(c => $"{c.Component}:{c.Shift:R}")],
        TopReader = trace.TopReader, TopReaderShare = trace.TopReaderShare, AttentionToPeersByLayer = [.. trace.AttentionToPeersByLayer], Seconds = trace.Seconds,
    };
}

/// <summary>
/// One agent taking in news through its update policy: the request as it was sent (its key and every news item) and what it did.
/// An agent's updates in step order are its history (<see cref="RunDatabase.History"/>): what an agent rebuilt on any node replays.
/// </summary>
public sealed class UpdateEvent
{
    public string Id { get; set; } = "";
    public int Step { get; set; }
    public string Protocol { get; set; } = "";
    public string Agent { get; set; } = "";
    public string Channel { get; set; } = "";
    public List<string> Facts { get; set; } = [];
    public bool Applied { get; set; }
    public long Bytes { get; set; }
    public double Seconds { get; set; }
    public string? Note { get; set; }
    /// <summary>The request's key (<see cref="LearnNews.Key"/>); empty in runs recorded before requests were kept.</summary>
    public string Key { get; set; } = "";
    public List<NewsItem> News { get; set; } = [];

    public static UpdateEvent Of(int step, string protocol, string agent, LearnNews request, UpdateOutcome outcome, IEnumerable<string> facts) => new()
    {
        Id = $"{step}/{protocol}/{agent}", Step = step, Protocol = protocol, Agent = agent, Channel = outcome.Channel,
        Facts = [.. facts], Applied = outcome.Applied, Bytes = outcome.BytesStored, Seconds = outcome.Seconds, Note = outcome.Note,
        Key = request.Key, News = [.. request.News],
    };

    public LearnNews Request => new(Key, News);
    public UpdateOutcome Outcome => new(Agent, Channel, Applied, Bytes, Seconds, Note);
}

/// <summary>
/// An agent built on a cluster node (<see cref="AgentHomed"/>): where it lived from then on, and how many of its recorded updates
/// it took in there, one row per build. An agent's rows in time order are its homes: another node is a rehoming.
/// </summary>
public sealed class HomeEvent
{
    public string Id { get; set; } = "";
    public string Agent { get; set; } = "";
    public string Node { get; set; } = "";
    public int Replayed { get; set; }
    public DateTime Built { get; set; }
}

/// <summary>One measurement of the tracer (e.g. CKA between two agents at one layer).</summary>
public sealed class TraceEvent
{
    public string Id { get; set; } = "";
    public int Step { get; set; }
    public string Kind { get; set; } = "";
    public string Hook { get; set; } = "";
    public int Layer { get; set; }
    public string AgentA { get; set; } = "";
    public string AgentB { get; set; } = "";
    public double LinearCka { get; set; }
    public double MutualKnn { get; set; }
    /// <summary>Kind "circuit": the fact ("subject:relation") whose circuits were compared, and how much they share.</summary>
    public string Fact { get; set; } = "";
    public double EdgeJaccard { get; set; }
    public double WeightedOverlap { get; set; }
    /// <summary>Kind "conformity-heads": an agent's (<see cref="AgentA"/>) heads ranked by their EAP-IG effect towards a wrong
    /// majority, for the intervention named in <see cref="Fact"/>; <see cref="Layer"/>: the contrasts they were found on.</summary>
    public List<string> Heads { get; set; } = [];
    public List<double> HeadScores { get; set; } = [];
}

/// <summary>A step that finished: everything it recorded is in the database.</summary>
public sealed class StepEvent
{
    public string Id { get; set; } = "";
    public int Step { get; set; }
    public string Protocol { get; set; } = "";
    public DateTime Finished { get; set; }
}

/// <summary>The run itself: the scenario it ran (its full text, so a run folder is self-contained) and its state.</summary>
public sealed class RunInfo
{
    public string Id { get; set; } = "run";
    public string ScenarioPath { get; set; } = "";
    public string ScenarioText { get; set; } = "";
    public string Status { get; set; } = "running";
    public DateTime Started { get; set; }
    public DateTime? Finished { get; set; }
    public int Resumes { get; set; }
}

/// <summary>
/// One finished step of a population's spread (<see cref="Population.SpreadRound"/>), for one scenario step: per fact, every
/// agent's stated, own and committed candidate index and whether it read its peers, packed as little-endian int32 (bool
/// as one byte) so that 10,000 agents take 130 KB per fact rather than a BSON array element per value.
/// </summary>
public sealed class SpreadRoundEvent
{
    public string Id { get; set; } = "";
    public int ScenarioStep { get; set; }
    public int Step { get; set; }
    public List<byte[]> Stated { get; set; } = [];
    public List<byte[]> Own { get; set; } = [];
    public List<byte[]> ReadPeers { get; set; } = [];
    public List<byte[]> Committed { get; set; } = [];

    /// <summary>On a cluster, where the bases' entities computed this step: "base/slot node" (<see cref="Population.BaseActors.TakePlacements"/>); empty in one process.</summary>
    public List<string> Nodes { get; set; } = [];
}

/// <summary>
/// A mechanism record of a spread step (<see cref="Population.SpreadTrace"/>): the answers to one fact given by the agents
/// listed (packed as <see cref="SpreadRoundEvent"/> packs them) with their neighbours' statements, which read the same text
/// with the same weights. Written in the transaction of its step's <see cref="SpreadRoundEvent"/>.
/// </summary>
public sealed class SpreadTraceEvent
{
    public string Id { get; set; } = "";
    public int ScenarioStep { get; set; }
    public int Step { get; set; }
    public int Fact { get; set; }
    public byte[] Agents { get; set; } = [];
    public PeerTraceRecord Trace { get; set; } = new();
}
