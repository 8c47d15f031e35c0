using Evolution.Mechanisms.Circuits;
using Akka.Actor;
using Evolution.Agents.Protocols;
using Evolution.Agents.Recording;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;

namespace Evolution.Agents;

/// <summary>Run these steps; the reply is <see cref="RunCompleted"/>.</summary>
public sealed record StartRun(IReadOnlyList<ProtocolStep> Steps);
public sealed record RunCompleted(string? Error);

/// <summary>Everything the moderator needs to set up a run's actors.</summary>
/// <param name="AgentRegion">Set when the agents are sharded over a cluster's worker nodes (<see cref="Cluster.ClusterNode"/>): the
/// region (or its proxy) that reaches them; null: the agents are this moderator's children.</param>
public sealed record RunSetup(IReadOnlyList<AgentHome> Agents, RunDatabase Database, World World, int Seed,
    IReadOnlyDictionary<string, AgentProfile> Profiles, IProgress<string>? Progress, TimeSpan AskTimeout, IActorRef? AgentRegion = null);

/// <summary>
/// The moderator: parent and supervisor of the agents, the recorder and the tracer; runs the
/// protocols (plain classes in <see cref="Protocols"/>) against the agents through actor messages.
/// An agent that throws is restarted (at most 3 times a minute) and gets the failed request again.
/// </summary>
public sealed class ModeratorActor : ReceiveActor
{
    readonly RunSetup setup;
    readonly Dictionary<string, IActorRef> agents = new();
    IActorRef recorder = ActorRefs.Nobody, tracer = ActorRefs.Nobody;

    public static Props Props(RunSetup setup) => Akka.Actor.Props.Create(() => new ModeratorActor(setup));

    public ModeratorActor(RunSetup setup)
    {
        this.setup = setup;
        ReceiveAsync<StartRun>(async m =>
        {
            var replyTo = Sender;
            var group = setup.AgentRegion is { } region ? ActorAgentGroup.Sharded([.. setup.Agents.Select(a => a.Name)], region, tracer, setup.AskTimeout, Cluster.NodeLosses.Watch(Context.System))
                : ActorAgentGroup.Local(agents, tracer, setup.AskTimeout);
            var sink = new RecorderSink(recorder, setup.Database);
            var context = new ProtocolContext(group, sink, setup.World, setup.Seed, setup.Profiles, setup.Progress);
            try
            {
                await StepRunner.Run(context, m.Steps);
                replyTo.Tell(new RunCompleted(null));
            }
            catch (Exception e)
            {
                replyTo.Tell(new RunCompleted(e is AskTimeoutException ? $"an agent did not answer in time: {e.Message}" : e.Message));
            }
        });
    }

    protected override void PreStart()
    {
        recorder = Context.ActorOf(RecorderActor.Props(setup.Database), "recorder");
        tracer = Context.ActorOf(TracerActor.Props(), "tracer");
        if (setup.AgentRegion is null)
            foreach (var home in setup.Agents) agents[home.Name] = Context.ActorOf(AgentActor.Props(home), home.Name);
    }

    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(maxNrOfRetries: 3, withinTimeRange: TimeSpan.FromMinutes(1), localOnlyDecider: _ => Directive.Restart);
}

/// <summary>
/// Protocols' view of agents that are actors: requests are asks with a timeout, sent where <paramref name="route"/> says: to
/// the agent's own actor (<see cref="Local"/>), or to the shard region that finds it on whichever node hosts it (<see cref="Sharded"/>).
/// </summary>
/// <param name="losses">Set for agents on a cluster: when a node is lost, every agent first gets back what it learned (an agent
/// rebuilt on another node starts from its checkpoint) and every request that was out is sent again (requests are idempotent by
/// key: an answer is recomputed, news already taken in is answered, not applied twice).</param>
public sealed class ActorAgentGroup(IReadOnlyList<string> agents, Func<string, object, (IActorRef To, object Message)> route, IActorRef tracer, TimeSpan timeout,
    Cluster.NodeLosses? losses = null) : IAgentGroup
{
    /// <summary>Per agent, the news it acknowledged taking in, in order, with what each did: what a rebuilt agent is given back.</summary>
    readonly Dictionary<string, List<(LearnNews Request, UpdateOutcome Outcome)>> learned = agents.ToDictionary(a => a, _ => new List<(LearnNews, UpdateOutcome)>());
    readonly Lock restoring = new();
    Task restored = Task.CompletedTask;
    int restoredGeneration;

    /// <summary>Agents that are children of this process's moderator.</summary>
    public static ActorAgentGroup Local(IReadOnlyDictionary<string, IActorRef> agents, IActorRef tracer, TimeSpan timeout) =>
        new([.. agents.Keys], (agent, message) => (agents[agent], message), tracer, timeout);

    /// <summary>Agents that are sharded entities of a cluster (<see cref="Cluster.ClusterNode.HostAgents"/>), reached through this node's shard region.</summary>
    public static ActorAgentGroup Sharded(IReadOnlyList<string> agents, IActorRef region, IActorRef tracer, TimeSpan timeout, Cluster.NodeLosses? losses = null) =>
        new(agents, (agent, message) => (region, new Akka.Cluster.Sharding.ShardingEnvelope(agent, message)), tracer, timeout, losses);

    public IReadOnlyList<string> Agents { get; } = agents;

    /// <summary>
    /// A request to an agent; on a cluster it outlives node losses (<see cref="Cluster.NodeLosses.Survive{T}"/>): once every agent
    /// has its history back, the request is sent again whole (the shards have moved by then).
    /// </summary>
    Task<T> AskAgent<T>(string agent, object message)
    {
        var (to, wrapped) = route(agent, message);
        return losses is null ? to.Ask<T>(wrapped, timeout) : losses.Survive<T>(to, wrapped, timeout, Restored, resendWhole: true);
    }

    /// <summary>After the losses up to <paramref name="generation"/>: every agent given back what it learned, once per loss.</summary>
    Task Restored(int generation)
    {
        lock (restoring)
        {
            if (generation > restoredGeneration)
            {
                restoredGeneration = generation;
                restored = Task.WhenAll(Agents.Select(agent =>
                {
                    List<(LearnNews Request, UpdateOutcome Outcome)> history;
                    lock (learned) history = [.. learned[agent]];
                    var (to, wrapped) = route(agent, new RestoreLearned([.. history.Select(h => h.Request)], [.. history.Select(h => h.Outcome)]));
                    return Cluster.NodeLosses.AskAgain<LearnedRestored>(to, wrapped, timeout);
                }));
            }
            return restored;
        }
    }

    public async Task<IReadOnlyList<AgentAnswer>> Ask(string agent, string key, IReadOnlyList<AskItem> items) =>
        (await AskAgent<AgentAnswered>(agent, new AskAgent(key, items))).Answers;

    public async Task<UpdateOutcome> Learn(string agent, string key, IReadOnlyList<NewsItem> news)
    {
        var request = new LearnNews(key, news);
        var outcome = (await AskAgent<NewsLearned>(agent, request)).Outcome;
        lock (learned)
            if (!learned[agent].Any(l => l.Request.Key == key)) learned[agent].Add((request, outcome));
        return outcome;
    }

    public async Task<IReadOnlyList<(string Hook, double[][] Features)>> Snapshot(string agent, string key, IReadOnlyList<string> texts) =>
        (await AskAgent<SnapshotTaken>(agent, new TakeSnapshot(key, texts))).Layers;

    public async Task<IReadOnlyList<TraceEvent>> CompareRepresentations(int step, IReadOnlyList<(string Agent, IReadOnlyList<(string Hook, double[][] Features)> Layers)> snapshots, int k) =>
        (await tracer.Ask<RepresentationsCompared>(new CompareRepresentations(step, snapshots, k), timeout)).Traces;

    public async Task<IReadOnlyList<Circuit?>> Circuits(string agent, string key, IReadOnlyList<FactRef> facts, int epoch, double edgeFraction) =>
        (await AskAgent<CircuitsTraced>(agent, new TraceCircuits(key, facts, epoch, edgeFraction))).Circuits;

    public Task<ConformityHeadsFound> ConformityHeads(string agent, string key, IReadOnlyList<ConformityProbe> probes) =>
        AskAgent<ConformityHeadsFound>(agent, new FindConformityHeads(key, probes));

    public async Task<IReadOnlyList<TraceEvent>> CompareCircuits(int step, IReadOnlyList<FactRef> facts, IReadOnlyList<(string Agent, IReadOnlyList<Circuit?> Circuits)> circuits) =>
        (await tracer.Ask<CircuitsCompared>(new CompareCircuits(step, facts, circuits), timeout)).Traces;
}

/// <summary>Events go to the recorder actor (the single writer); lookups read the database.</summary>
public sealed class RecorderSink(IActorRef recorder, RunDatabase db) : IEventSink
{
    public void Record(object e) => recorder.Tell(e);
    public async Task Flush() => await recorder.Ask<Flushed>(new Flush(), TimeSpan.FromMinutes(5));
    public AnswerEvent? Recorded(string id) => db.FindAnswer(id);
    public bool StepDone(int step) => db.StepDone(step);
    public IReadOnlyList<AnswerEvent> AnswersOf(int step) => db.Answers.Find(a => a.Step == step).OrderBy(a => a.Id, StringComparer.Ordinal).ToList(); // a fixed order: majority ties are broken by it
}
