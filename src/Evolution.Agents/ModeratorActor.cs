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
/// <param name="Recorder">Set on a cluster: the recorder singleton (<see cref="Cluster.ClusterNode.Singleton"/>), which agents on
/// worker nodes read their history from; null: the recorder is this moderator's child.</param>
public sealed record RunSetup(IReadOnlyList<AgentHome> Agents, RunDatabase Database, World World, int Seed,
    IReadOnlyDictionary<string, AgentProfile> Profiles, IProgress<string>? Progress, TimeSpan AskTimeout, IActorRef? AgentRegion = null, IActorRef? Recorder = null);

/// <summary>
/// The moderator: parent and supervisor of the agents, the recorder and the tracer; runs the
/// protocols (plain classes in <see cref="Protocols"/>) against the agents through actor messages.
/// An agent that throws is restarted (at most 3 times a minute) and gets the failed request again.
/// On a cluster the moderator and the recorder are singletons of the coordinator and the agents live on the workers.
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
        recorder = setup.Recorder ?? Context.ActorOf(RecorderActor.Props(setup.Database), "recorder");
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
/// <param name="losses">Set for agents on a cluster: every request that was out when a node is lost is sent again (requests are
/// idempotent by key: an answer is recomputed, news already taken in is answered, not applied twice). An agent rebuilt on another
/// node first reads what it learned from the run database (<see cref="AgentActor"/>), so nothing of it lives here.</param>
public sealed class ActorAgentGroup(IReadOnlyList<string> agents, Func<string, object, (IActorRef To, object Message)> route, IActorRef tracer, TimeSpan timeout,
    Cluster.NodeLosses? losses = null) : IAgentGroup
{
    /// <summary>Agents that are children of this process's moderator.</summary>
    public static ActorAgentGroup Local(IReadOnlyDictionary<string, IActorRef> agents, IActorRef tracer, TimeSpan timeout) =>
        new([.. agents.Keys], (agent, message) => (agents[agent], message), tracer, timeout);

    /// <summary>Agents that are sharded entities of a cluster (<see cref="Cluster.ClusterNode.HostAgents"/>), reached through this node's shard region.</summary>
    public static ActorAgentGroup Sharded(IReadOnlyList<string> agents, IActorRef region, IActorRef tracer, TimeSpan timeout, Cluster.NodeLosses? losses = null) =>
        new(agents, (agent, message) => (region, new Akka.Cluster.Sharding.ShardingEnvelope(agent, message)), tracer, timeout, losses);

    public IReadOnlyList<string> Agents { get; } = agents;

    /// <summary>
    /// A request to an agent; on a cluster it outlives node losses (<see cref="Cluster.NodeLosses.Survive{T}"/>): once the agent
    /// is reached again (rebuilt on a node left, with its history), the request is sent again whole.
    /// </summary>
    Task<T> AskAgent<T>(string agent, object message)
    {
        var (to, wrapped) = route(agent, message);
        if (losses is null) return to.Ask<T>(wrapped, timeout);
        return losses.Survive<T>(to, wrapped, timeout, reach: () => Cluster.NodeLosses.AskAgain<AgentReached>(to, route(agent, new ReachAgent(agent)).Message, timeout));
    }

    public async Task<IReadOnlyList<AgentAnswer>> Ask(string agent, string key, IReadOnlyList<AskItem> items) =>
        (await AskAgent<AgentAnswered>(agent, new AskAgent(key, items))).Answers;

    public async Task<UpdateOutcome> Learn(string agent, string key, IReadOnlyList<NewsItem> news) =>
        (await AskAgent<NewsLearned>(agent, new LearnNews(key, news))).Outcome;

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
