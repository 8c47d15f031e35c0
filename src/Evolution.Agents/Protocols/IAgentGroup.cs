using Evolution.Agents.Recording;
using Evolution.Mechanisms.Circuits;

namespace Evolution.Agents.Protocols;

/// <summary>How a protocol reaches the agents: through actors in a run, or directly in tests.</summary>
public interface IAgentGroup
{
    IReadOnlyList<string> Agents { get; }
    Task<IReadOnlyList<AgentAnswer>> Ask(string agent, string key, IReadOnlyList<AskItem> items);
    Task<UpdateOutcome> Learn(string agent, string key, IReadOnlyList<NewsItem> news);
    Task<IReadOnlyList<(string Hook, double[][] Features)>> Snapshot(string agent, string key, IReadOnlyList<string> texts);
    /// <summary>Pairwise representation similarity per layer (the tracer's job).</summary>
    Task<IReadOnlyList<TraceEvent>> CompareRepresentations(int step, IReadOnlyList<(string Agent, IReadOnlyList<(string Hook, double[][] Features)> Layers)> snapshots, int k);
    /// <summary>An agent's knowledge circuit for each fact.</summary>
    Task<IReadOnlyList<Circuit?>> Circuits(string agent, string key, IReadOnlyList<FactRef> facts, int epoch, double edgeFraction);
    /// <summary>An agent's heads ranked by their effect towards a wrong majority on the probes.</summary>
    Task<ConformityHeadsFound> ConformityHeads(string agent, string key, IReadOnlyList<ConformityProbe> probes);
    /// <summary>Pairwise circuit similarity per fact (the tracer's job).</summary>
    Task<IReadOnlyList<TraceEvent>> CompareCircuits(int step, IReadOnlyList<FactRef> facts, IReadOnlyList<(string Agent, IReadOnlyList<Circuit?> Circuits)> circuits);
}

/// <summary>Where events go (the recorder) and where a resumed run finds the ones already written.</summary>
public interface IEventSink
{
    void Record(object e);
    Task Flush();
    AnswerEvent? Recorded(string id);
    bool StepDone(int step);
    IReadOnlyList<AnswerEvent> AnswersOf(int step);
}
