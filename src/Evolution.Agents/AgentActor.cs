using Akka.Actor;

namespace Evolution.Agents;

/// <summary>
/// One agent as an actor: owns its <see cref="AgentRuntime"/> and turns messages into calls on it.
/// When handling a message throws, the supervisor restarts the actor: the new instance rebuilds
/// the agent from its checkpoint, memory and learned news (<see cref="AgentHome"/>), and the message
/// that failed is delivered again, so no request is lost. Given the run's recorder (an agent on a cluster's
/// worker node), each instance first reads its history from the run database and takes in what it lacks,
/// holding every other message until then: an agent built on any node starts from what the run recorded; it then tells
/// the recorder where it lives (<see cref="AgentHomed"/>).
/// </summary>
public sealed class AgentActor : ReceiveActor, IWithUnboundedStash
{
    const int MaxAttempts = 3;
    readonly AgentHome home;
    readonly IActorRef? recorder;
    AgentRuntime runtime;

    public IStash Stash { get; set; } = null!;

    /// <param name="recorder">The run's recorder (or a proxy of it), where the agent's history is read before anything else; null:
    /// the agent lives in the run's own process, where <paramref name="home"/> holds its history.</param>
    public static Props Props(AgentHome home, IActorRef? recorder = null) => Akka.Actor.Props.Create(() => new AgentActor(home, recorder));

    /// <summary>How long an agent waits for its history (the recorder's node may still be joining).</summary>
    static readonly TimeSpan HistoryTimeout = TimeSpan.FromMinutes(2);

    /// <summary>This node's address when it is one of a cluster's (remote addresses have a host), else null.</summary>
    readonly string? node;

    public AgentActor(AgentHome home, IActorRef? recorder)
    {
        this.home = home;
        this.recorder = recorder;
        var address = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress;
        node = address.Host is null ? null : address.ToString();
        runtime = home.Rebuild();
        if (recorder is null) Ready();
        else Become(ReadingHistory);
    }

    void ReadingHistory()
    {
        Receive<RestoreLearned>(m =>
        {
            (runtime, int replayed) = home.Restore(runtime, m);
            recorder!.Tell(new AgentHomed(home.Name, node ?? "", replayed, DateTime.UtcNow));
            Stash.UnstashAll();
            Become(Ready);
        });
        Receive<Status.Failure>(f => throw new AgentFaultException($"agent {home.Name}: could not read its history from the run's recorder: {f.Cause.Message}"));
        ReceiveAny(_ => Stash.Stash());
    }

    protected override void PreStart() =>
        recorder?.Ask<RestoreLearned>(new ReadHistory(home.Name), HistoryTimeout).PipeTo(Self, failure: e => new Status.Failure(e));

    void Ready()
    {
        Receive<AskAgent>(m =>
        {
            ThrowIfArmed();
            var answers = runtime.Answer(m.Items);
            Sender.Tell(new AgentAnswered(m.Key, node is null ? answers : [.. answers.Select(a => a with { Node = node })]));
        });
        Receive<LearnNews>(m =>
        {
            ThrowIfArmed();
            Sender.Tell(new NewsLearned(m.Key, home.Learn(runtime, m)));
        });
        Receive<ReachAgent>(m => Sender.Tell(new AgentReached(home.Name, node)));
        Receive<TakeSnapshot>(m =>
        {
            ThrowIfArmed();
            Sender.Tell(new SnapshotTaken(m.Key, home.Name, runtime.Residuals(m.Texts)));
        });
        Receive<TraceCircuits>(m =>
        {
            ThrowIfArmed();
            Sender.Tell(new CircuitsTraced(m.Key, home.Name, runtime.Circuits(m.Facts, m.Epoch, m.EdgeFraction)));
        });
        Receive<FindConformityHeads>(m =>
        {
            ThrowIfArmed();
            Sender.Tell(runtime.ConformityHeads(m.Key, m.Probes));
        });
        Receive<FailNextMessage>(m =>
        {
            home.PendingFault = m.Reason;
            Sender.Tell(new FaultArmed());
        });
    }

    void ThrowIfArmed()
    {
        if (home.PendingFault is not { } reason) return;
        home.PendingFault = null;
        throw new AgentFaultException($"agent {home.Name}: {reason}");
    }

    protected override void PreRestart(Exception reason, object message)
    {
        home.Restarts++;
        // Deliver the failed request again to the rebuilt agent, with its original sender; a request
        // that keeps failing is answered with the failure, so the moderator stops instead of waiting.
        if (message is AskAgent or LearnNews or TakeSnapshot or TraceCircuits)
        {
            if (home.CountFailure(message) < MaxAttempts) Self.Tell(message, Sender);
            else Sender.Tell(new Status.Failure(new AgentFaultException($"agent {home.Name} failed {MaxAttempts} times on {message.GetType().Name}: {reason.Message}")));
        }
        base.PreRestart(reason, message);
    }

    protected override void PostStop()
    {
        runtime.Dispose();
        base.PostStop();
    }
}

public sealed class AgentFaultException(string message) : Exception(message);
