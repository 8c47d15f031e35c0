using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace Evolution.Agents.Cluster;

/// <summary>
/// The cluster members this node has seen removed (a killed node, downed by the split-brain resolver, or one that left): a
/// generation count and a task that completes at the next removal. Requests out to an agent when its node goes are lost with
/// it; <see cref="ActorAgentGroup"/> watches this to send them again, after giving every agent its history back.
/// </summary>
public sealed class NodeLosses
{
    readonly Lock gate = new();
    TaskCompletionSource next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>How many members have been removed so far.</summary>
    public int Generation { get { lock (gate) return generation; } }
    int generation;

    /// <summary>Completes when the next member is removed.</summary>
    public Task Next { get { lock (gate) return next.Task; } }

    /// <summary>A member was removed (called by the watcher; tests may call it to drill a loss).</summary>
    public void Lost()
    {
        TaskCompletionSource done;
        lock (gate)
        {
            generation++;
            done = next;
            next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        done.TrySetResult();
    }

    /// <summary>Losses as <paramref name="system"/>'s cluster sees them, from now on.</summary>
    public static NodeLosses Watch(ActorSystem system)
    {
        var losses = new NodeLosses();
        system.ActorOf(Props.Create(() => new Watcher(losses)), "node-losses");
        return losses;
    }

    sealed class Watcher : ReceiveActor
    {
        public Watcher(NodeLosses losses)
        {
            Receive<ClusterEvent.MemberRemoved>(m =>
            {
                Context.GetLogger().Warning("node {0} was removed from the cluster ({1}): its agents' requests go out again to the nodes left", m.Member.Address, m.PreviousStatus);
                losses.Lost();
            });
            Receive<ClusterEvent.CurrentClusterState>(_ => { });
        }

        protected override void PreStart() =>
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.MemberRemoved));

        protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }
}
