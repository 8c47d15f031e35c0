using Akka.Actor;

namespace Evolution.Agents.Recording;

/// <summary>Asks the recorder to confirm that everything sent before has been written.</summary>
public sealed record Flush;
public sealed record Flushed;

/// <summary>
/// The single writer of the run database: every event goes through this actor's mailbox, so writes
/// never race, and a <see cref="Flush"/> answered means all earlier events are on disk. On a cluster it is a singleton on the
/// coordinator (<see cref="Cluster.ClusterNode.Singleton"/>), where agents being built on worker nodes read their history.
/// </summary>
public sealed class RecorderActor : ReceiveActor
{
    public static Props Props(RunDatabase db) => Akka.Actor.Props.Create(() => new RecorderActor(db));

    public RecorderActor(RunDatabase db)
    {
        Receive<AnswerEvent>(db.Write);
        Receive<UpdateEvent>(db.Write);
        Receive<TraceEvent>(db.Write);
        Receive<StepEvent>(db.Write);
        Receive<Flush>(_ => Sender.Tell(new Flushed()));
        // Asked by an agent being built on any node: answered after every event sent before, so with every update acknowledged so far.
        Receive<ReadHistory>(m => Sender.Tell(db.History(m.Agent)));
        Receive<AgentHomed>(m => db.Write(new HomeEvent { Id = $"{m.Agent}@{m.Node}@{m.Built.Ticks}", Agent = m.Agent, Node = m.Node, Replayed = m.Replayed, Built = m.Built }));
    }
}
