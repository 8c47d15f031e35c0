using Akka.Actor;
using Akka.Cluster;
using Akka.Event;

namespace Evolution.Agents.Cluster;

/// <summary>
/// The cluster members this node has seen removed (a killed node, downed by the split-brain resolver, or one that left): a
/// generation count and a task that completes at the next removal. Requests out to an agent when its node goes are lost with
/// it; <see cref="ActorAgentGroup"/> and <see cref="Population.BaseActors"/> watch this to send them again.
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

    /// <summary>
    /// An idempotent request that outlives node losses: <paramref name="message"/> to <paramref name="to"/>, sent again whenever a
    /// member is removed while it is out (the reply may have gone with the node, or come from a state the loss undid), until a reply
    /// comes back with no loss in between. A loss is seen here before the shard region has moved the lost node's shards, so a
    /// request sent again at once may still go to the dead node: resent requests go out in attempts (<see cref="AskAgain{T}"/>),
    /// or, given <paramref name="reach"/> (for requests too heavy to repeat), that cheap request is sent in attempts first and the
    /// request itself once, whole.
    /// </summary>
    public async Task<T> Survive<T>(IActorRef to, object message, TimeSpan timeout, Func<Task>? reach = null)
    {
        bool again = false;
        while (true)
        {
            int seen = Generation;
            var lost = Next;
            if (again && reach is not null) await reach();
            var ask = again && reach is null ? AskAgain<T>(to, message, timeout) : to.Ask<T>(message, timeout);
            await Task.WhenAny(ask, lost);
            if (ask.IsCompleted && Generation == seen) return await ask;
            _ = ask.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
            again = true;
        }
    }

    /// <summary>
    /// An idempotent ask sent again, with attempts of 5, 10, 20 s … within the timeout: right after a loss the shard region may
    /// still route to the dead node, and an attempt that went there is lost without a reply.
    /// </summary>
    public static async Task<T> AskAgain<T>(IActorRef to, object message, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var attempt = TimeSpan.FromSeconds(5);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            try { return await to.Ask<T>(message, attempt < left ? attempt : left); }
            catch (AskTimeoutException) when (deadline - DateTime.UtcNow > TimeSpan.FromSeconds(1)) { attempt *= 2; }
        }
    }

    /// <summary>Losses as <paramref name="system"/>'s cluster sees them, from now on.</summary>
    public static NodeLosses Watch(ActorSystem system)
    {
        var losses = new NodeLosses();
        ClusterNode.OnMemberRemoved(system, "node-losses", (removed, log) =>
        {
            log.Warning("node {0} was removed from the cluster ({1}): its agents' requests go out again to the nodes left", removed.Member.Address, removed.PreviousStatus);
            losses.Lost();
        });
        return losses;
    }
}
