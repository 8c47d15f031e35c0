using Evolution.Agents.Protocols;
using Evolution.Agents.Recording;
using Evolution.Mechanisms.Circuits;

namespace Evolution.Agents;

/// <summary>Protocols' view of agents called directly, without actors (tests, notebooks).</summary>
public sealed class DirectAgentGroup(IReadOnlyList<AgentRuntime> runtimes) : IAgentGroup
{
    readonly Dictionary<string, AgentRuntime> byName = runtimes.ToDictionary(r => r.Name);

    public IReadOnlyList<string> Agents { get; } = runtimes.Select(r => r.Name).ToList();

    // One agent at a time, as an actor's mailbox would serialise its requests.
    public Task<IReadOnlyList<AgentAnswer>> Ask(string agent, string key, IReadOnlyList<AskItem> items)
    {
        lock (byName[agent]) return Task.FromResult(byName[agent].Answer(items));
    }

    public Task<UpdateOutcome> Learn(string agent, string key, IReadOnlyList<NewsItem> news)
    {
        lock (byName[agent]) return Task.FromResult(byName[agent].Learn(news));
    }

    public Task<IReadOnlyList<(string Hook, double[][] Features)>> Snapshot(string agent, string key, IReadOnlyList<string> texts)
    {
        lock (byName[agent]) return Task.FromResult(byName[agent].Residuals(texts));
    }

    public Task<IReadOnlyList<TraceEvent>> CompareRepresentations(int step, IReadOnlyList<(string Agent, IReadOnlyList<(string Hook, double[][] Features)> Layers)> snapshots, int k) =>
        Task.FromResult(ConvergenceTracer.Compare(step, snapshots, k));

    public Task<IReadOnlyList<Circuit?>> Circuits(string agent, string key, IReadOnlyList<FactRef> facts, int epoch, double edgeFraction)
    {
        lock (byName[agent]) return Task.FromResult(byName[agent].Circuits(facts, epoch, edgeFraction));
    }

    public Task<ConformityHeadsFound> ConformityHeads(string agent, string key, IReadOnlyList<ConformityProbe> probes)
    {
        lock (byName[agent]) return Task.FromResult(byName[agent].ConformityHeads(key, probes));
    }

    public Task<IReadOnlyList<TraceEvent>> CompareCircuits(int step, IReadOnlyList<FactRef> facts, IReadOnlyList<(string Agent, IReadOnlyList<Circuit?> Circuits)> circuits) =>
        Task.FromResult(ConvergenceTracer.CompareCircuits(step, facts, circuits));
}

/// <summary>Writes events straight into a run database (no recorder actor).</summary>
public sealed class DirectSink(RunDatabase db) : IEventSink
{
    public void Record(object e)
    {
        lock (db)
        {
            switch (e)
            {
                case AnswerEvent a: db.Write(a); break;
                case UpdateEvent u: db.Write(u); break;
                case TraceEvent t: db.Write(t); break;
                case StepEvent s: db.Write(s); break;
                default: throw new ArgumentException($"not an event: {e.GetType().Name}");
            }
        }
    }

    public Task Flush() => Task.CompletedTask;
    public AnswerEvent? Recorded(string id) => db.FindAnswer(id);
    public bool StepDone(int step) => db.StepDone(step);
    public IReadOnlyList<AnswerEvent> AnswersOf(int step) => db.Answers.Find(a => a.Step == step).OrderBy(a => a.Id, StringComparer.Ordinal).ToList(); // a fixed order: majority ties are broken by it
}
