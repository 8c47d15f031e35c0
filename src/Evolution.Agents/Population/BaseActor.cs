using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Cluster.Sharding;
using Evolution.Agents.Cluster;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using Evolution.Updates.Population;

namespace Evolution.Agents.Population;

/// <summary>One agent's question in a message to a base: the index of its agent's delta in the message's table (−1: none), and what it is asked.</summary>
public sealed record WireQuery(int Delta, string Prompt, IReadOnlyList<string> Candidates);

/// <summary>Asks a base for the beliefs of its agents' questions, in forward passes (each scored as one pass, <see cref="SharedBase.ForwardPasses"/>).</summary>
public sealed record ScoreOnBase(int Base, IReadOnlyList<WireDelta> Deltas, IReadOnlyList<IReadOnlyList<WireQuery>> Passes);

/// <summary>The beliefs, per pass, one per query, in order; <paramref name="Node"/>: the cluster node that computed them (null in one process).</summary>
public sealed record ScoredOnBase(IReadOnlyList<IReadOnlyList<double[]>> Beliefs, string? Node = null);

/// <summary>One answer to analyse in a message to a base: its agent's delta (index in the message's table, −1: none) and the query.</summary>
public sealed record WirePeerQuery(int Delta, PeerQuery Query);

/// <summary>Asks a base for the mechanism records of its agents' answers given with peers, in batches of <see cref="PeerPressure.RowsPerBatch"/>.</summary>
public sealed record AnalyzeOnBase(int Base, IReadOnlyList<WireDelta> Deltas, IReadOnlyList<IReadOnlyList<WirePeerQuery>> Batches);

/// <summary>The records, per batch, one per query, in order, and the node that computed them.</summary>
public sealed record AnalyzedOnBase(IReadOnlyList<IReadOnlyList<PeerPressureResult>> Results, string? Node = null);

/// <summary>Asks a base for one agent's conformity circuit (<see cref="SharedBase.ConformityCircuit"/>).</summary>
public sealed record FindCircuitOnBase(int Base, WireDelta? Delta, IReadOnlyList<ConformityContrast> Contrasts);

/// <summary>The circuit's heads (null: no contrast usable), and the node that found them.</summary>
public sealed record FoundCircuitOnBase(CircuitHeads? Circuit, string? Node = null);

/// <summary>An agent's conformity heads as a population records them: every head's effect, largest first, and the contrasts used.</summary>
public sealed record CircuitHeads(IReadOnlyList<HeadEffect> Heads, int Used);

/// <summary>
/// Where a population's questions are answered: per base, a batch of (agent delta, prompt, candidates) in, beliefs out.
/// In process (<see cref="InProcessBeliefs"/>) or through actors (<see cref="BaseActors"/>: one per base in this process, or
/// sharded over the nodes of a cluster).
/// </summary>
public interface IBeliefSource
{
    /// <summary>Beliefs for each base's batch; the bases may answer at the same time.</summary>
    IReadOnlyDictionary<int, IReadOnlyList<double[]>> Beliefs(IReadOnlyDictionary<int, IReadOnlyList<AgentQuery>> byBase);

    /// <summary>The mechanism records of each base's batch of answers given with peers (<see cref="SharedBase.AnalyzePeers"/>).</summary>
    IReadOnlyDictionary<int, IReadOnlyList<PeerPressureResult>> AnalyzePeers(IReadOnlyDictionary<int, IReadOnlyList<AgentPeerQuery>> byBase);

    /// <summary>One agent's conformity circuit on its base (<see cref="SharedBase.ConformityCircuit"/>); null: no contrast usable.</summary>
    CircuitHeads? ConformityCircuit(int @base, AgentDelta? delta, IReadOnlyList<ConformityContrast> contrasts);
}

/// <summary>Every base answered on the calling thread, one after another.</summary>
public sealed class InProcessBeliefs(IReadOnlyList<PopulationBase> bases) : IBeliefSource
{
    public IReadOnlyDictionary<int, IReadOnlyList<double[]>> Beliefs(IReadOnlyDictionary<int, IReadOnlyList<AgentQuery>> byBase) =>
        byBase.ToDictionary(p => p.Key, p => bases[p.Key].Answers.Beliefs(p.Value));

    public IReadOnlyDictionary<int, IReadOnlyList<PeerPressureResult>> AnalyzePeers(IReadOnlyDictionary<int, IReadOnlyList<AgentPeerQuery>> byBase) =>
        byBase.ToDictionary(p => p.Key, p => bases[p.Key].Answers.AnalyzePeers(p.Value));

    public CircuitHeads? ConformityCircuit(int @base, AgentDelta? delta, IReadOnlyList<ConformityContrast> contrasts) =>
        BaseActor.Heads(bases[@base].Answers.ConformityCircuit(delta, contrasts));
}

/// <summary>
/// Bases as actors: a population's agents stay plain rows (an actor per agent would only forward to its base), and the base,
/// the unit that owns weights and does the work, is the actor. A base's batch is cut where its forward passes end
/// (<see cref="SharedBase.ForwardPasses"/>; mechanism records at every <see cref="PeerPressure.RowsPerBatch"/>) and the passes are
/// dealt round-robin to <c>slots</c> actors of that base, all asked together: in one process one actor per base
/// (<see cref="Local"/>), on a cluster <see cref="DefaultSlots"/> sharded entities per base spread over the worker nodes
/// (<see cref="Sharded"/>). Each pass is computed as the one batched pass a single process makes, so where it runs changes
/// no answer to the bit. The coordinator keeps every agent's state (its commits, its memory, its deltas): a base actor holds
/// nothing of an agent's, so a lost node loses nothing and a request that was out on it is simply sent again.
/// </summary>
public sealed class BaseActors : IBeliefSource
{
    readonly IReadOnlyList<SharedBase> bases;
    readonly Func<int, int, object, (IActorRef To, object Message)> route;
    readonly int slots;
    readonly TimeSpan timeout;
    readonly NodeLosses? losses;
    readonly ConditionalWeakTable<AgentDelta, WireDelta> wire = new();
    readonly SortedSet<string> placements = new(StringComparer.Ordinal);

    BaseActors(IReadOnlyList<SharedBase> bases, Func<int, int, object, (IActorRef, object)> route, int slots, TimeSpan timeout, NodeLosses? losses) =>
        (this.bases, this.route, this.slots, this.timeout, this.losses) = (bases, route, slots, timeout, losses);

    /// <summary>Sharded entities per base on a cluster: passes spread over about this many entities, so over every worker node.</summary>
    public const int DefaultSlots = 10;

    /// <summary>One actor per base in this process (<paramref name="actors"/>[b] answers base b), its passes in one message or, with
    /// more <paramref name="slots"/>, in as many (to check that dealing them changes nothing).</summary>
    public static BaseActors Local(IReadOnlyList<SharedBase> bases, IReadOnlyList<IActorRef> actors, TimeSpan timeout, int slots = 1) =>
        new(bases, (b, _, message) => (actors[b], message), slots, timeout, null);

    /// <summary>
    /// Base entities of a cluster (<see cref="ClusterNode.HostBases"/>), reached through <paramref name="region"/>; with
    /// <paramref name="losses"/>, a request out when a node is lost is sent again. <paramref name="bases"/> (the coordinator's own
    /// copies) only plan the forward passes.
    /// </summary>
    public static BaseActors Sharded(IReadOnlyList<SharedBase> bases, IActorRef region, TimeSpan timeout, NodeLosses? losses, int slots = DefaultSlots) =>
        new(bases, (b, slot, message) => (region, new ShardingEnvelope(EntityId(b, slot), message)), slots, timeout, losses);

    /// <summary>The entity that answers base <paramref name="base"/>'s passes dealt to <paramref name="slot"/>.</summary>
    public static string EntityId(int @base, int slot) => $"{@base}/{slot}";

    public IReadOnlyDictionary<int, IReadOnlyList<double[]>> Beliefs(IReadOnlyDictionary<int, IReadOnlyList<AgentQuery>> byBase) =>
        Gather<AgentQuery, ScoredOnBase, double[]>(byBase, (b, queries) => slots == 1 ? Whole(queries.Count) : bases[b].ForwardPasses(queries), q => q.Delta,
                (b, deltas, passes) => new ScoreOnBase(b, deltas, [.. passes.Select(p => (IReadOnlyList<WireQuery>)[.. p.Select(x => new WireQuery(x.Delta, x.Query.Prompt, x.Query.Candidates))])]),
                reply => (reply.Beliefs, reply.Node), () => []) // a query without candidates is in no pass: its belief is empty, as a single pass gives it
            .ToDictionary(p => p.Key, p => (IReadOnlyList<double[]>)p.Value);

    public IReadOnlyDictionary<int, IReadOnlyList<PeerPressureResult>> AnalyzePeers(IReadOnlyDictionary<int, IReadOnlyList<AgentPeerQuery>> byBase) =>
        Gather<AgentPeerQuery, AnalyzedOnBase, PeerPressureResult>(byBase,
                (_, queries) => slots == 1 ? Whole(queries.Count) : [.. Enumerable.Range(0, queries.Count).Chunk(PeerPressure.RowsPerBatch)], q => q.Delta,
                (b, deltas, batches) => new AnalyzeOnBase(b, deltas, [.. batches.Select(p => (IReadOnlyList<WirePeerQuery>)[.. p.Select(x => new WirePeerQuery(x.Delta, x.Query.Query))])]),
                reply => (reply.Results, reply.Node), () => null!)
            .ToDictionary(p => p.Key, p => (IReadOnlyList<PeerPressureResult>)p.Value);

    /// <summary>With one slot a base gets its whole batch as one part, which it cuts into the same passes itself (no planning here).</summary>
    static IReadOnlyList<int[]> Whole(int count) => [[.. Enumerable.Range(0, count)]];

    /// <summary>
    /// Each base's batch <paramref name="cut"/> into parts (query indices in order), dealt round-robin to the base's slots; each slot
    /// gets one <paramref name="message"/> of its parts, every query with the index of its delta in the message's table; all are
    /// asked together, and the results go back to query order (a query in no part gets <paramref name="missing"/>).
    /// </summary>
    Dictionary<int, TResult[]> Gather<TQuery, TReply, TResult>(IReadOnlyDictionary<int, IReadOnlyList<TQuery>> byBase, Func<int, IReadOnlyList<TQuery>, IReadOnlyList<int[]>> cut,
        Func<TQuery, AgentDelta?> deltaOf, Func<int, IReadOnlyList<WireDelta>, IReadOnlyList<IReadOnlyList<(TQuery Query, int Delta)>>, object> message,
        Func<TReply, (IReadOnlyList<IReadOnlyList<TResult>> Parts, string? Node)> read, Func<TResult> missing)
    {
        var asked = new List<(int Base, string Entity, IReadOnlyList<int[]> Parts, Task<TReply> Reply)>();
        foreach (var (b, queries) in byBase)
            foreach (var (slot, parts) in Deal(cut(b, queries)))
            {
                var (deltas, index) = Table(parts.SelectMany(p => p).Select(q => deltaOf(queries[q])));
                var body = message(b, deltas, [.. parts.Select(p => (IReadOnlyList<(TQuery, int)>)[.. p.Select(q => (queries[q], index(deltaOf(queries[q]))))])]);
                asked.Add((b, EntityId(b, slot), parts, Ask<TReply>(b, slot, body)));
            }
        Task.WaitAll([.. asked.Select(a => a.Reply)]);
        var results = byBase.ToDictionary(p => p.Key, p => Enumerable.Range(0, p.Value.Count).Select(_ => missing()).ToArray());
        foreach (var (b, entity, parts, reply) in asked)
        {
            var (computed, node) = read(reply.Result);
            Placed([(entity, node)]);
            foreach (var (part, values) in parts.Zip(computed))
                foreach (var (q, value) in part.Zip(values)) results[b][q] = value;
        }
        return results;
    }

    public CircuitHeads? ConformityCircuit(int @base, AgentDelta? delta, IReadOnlyList<ConformityContrast> contrasts)
    {
        var found = Ask<FoundCircuitOnBase>(@base, 0, new FindCircuitOnBase(@base, delta is null ? null : WireOf(delta), contrasts)).GetAwaiter().GetResult();
        Placed([(EntityId(@base, 0), found.Node)]);
        return found.Circuit;
    }

    /// <summary>
    /// Where the bases' entities computed since the last call, as "entity node" lines in order (none in one process): a spread
    /// round stores them, so an entity that moved (its node lost) shows on another node in a later round.
    /// </summary>
    public IReadOnlyList<string> TakePlacements()
    {
        lock (placements)
        {
            var taken = placements.ToList();
            placements.Clear();
            return taken;
        }
    }

    void Placed(IEnumerable<(string Entity, string? Node)> replies)
    {
        lock (placements)
            foreach (var (entity, node) in replies)
                if (node is not null) placements.Add($"{entity} {node}");
    }

    /// <summary>Parts dealt round-robin to the slots, each slot's in order (slots that get none are left out).</summary>
    IEnumerable<(int Slot, IReadOnlyList<int[]> Passes)> Deal(IReadOnlyList<int[]> passes) =>
        Enumerable.Range(0, slots).Select(s => (s, (IReadOnlyList<int[]>)[.. passes.Where((_, i) => i % slots == s)])).Where(x => x.Item2.Count > 0);

    /// <summary>The distinct deltas (by instance: agents with the same commits share one) as a table, and each one's index (−1: none).</summary>
    (IReadOnlyList<WireDelta> Table, Func<AgentDelta?, int> Index) Table(IEnumerable<AgentDelta?> deltas)
    {
        var index = new Dictionary<AgentDelta, int>(ReferenceEqualityComparer.Instance);
        var table = new List<WireDelta>();
        foreach (var delta in deltas.OfType<AgentDelta>())
            if (!index.ContainsKey(delta))
            {
                index[delta] = table.Count;
                table.Add(WireOf(delta));
            }
        return (table, d => d is null ? -1 : index[d]);
    }

    WireDelta WireOf(AgentDelta delta) => wire.GetValue(delta, WireDelta.From);

    Task<T> Ask<T>(int @base, int slot, object message)
    {
        var (to, wrapped) = route(@base, slot, message);
        return losses is null ? to.Ask<T>(wrapped, timeout) : losses.Survive<T>(to, wrapped, timeout);
    }
}

/// <summary>
/// A base as an actor: answers <see cref="ScoreOnBase"/>, <see cref="AnalyzeOnBase"/> and <see cref="FindCircuitOnBase"/> through
/// its node's <see cref="SharedBase"/> of the message's base (one per node, shared by that base's entities there and used by one
/// of them at a time: a circuit search writes an agent's delta into its weights); each pass is one call, as a single process
/// makes it. A failure goes back to the asker.
/// </summary>
public sealed class BaseActor : ReceiveActor
{
    public static Props Props(Func<int, SharedBase> bases) => Akka.Actor.Props.Create(() => new BaseActor(bases));

    public BaseActor(Func<int, SharedBase> bases)
    {
        // This node's address when it is one of a cluster's (remote addresses have a host), else null.
        var address = ((ExtendedActorSystem)Context.System).Provider.DefaultAddress;
        string? node = address.Host is null ? null : address.ToString();
        Receive<ScoreOnBase>(m => Reply(m.Deltas, deltas =>
        {
            var @base = bases(m.Base);
            lock (@base)
                return new ScoredOnBase([.. m.Passes.Select(p => @base.Beliefs([.. p.Select(q => new AgentQuery(q.Delta < 0 ? null : deltas[q.Delta], q.Prompt, q.Candidates))]))], node);
        }));
        Receive<AnalyzeOnBase>(m => Reply(m.Deltas, deltas =>
        {
            var @base = bases(m.Base);
            lock (@base)
                return new AnalyzedOnBase([.. m.Batches.Select(b => @base.AnalyzePeers([.. b.Select(q => new AgentPeerQuery(q.Delta < 0 ? null : deltas[q.Delta], q.Query))]))], node);
        }));
        Receive<FindCircuitOnBase>(m => Reply(m.Delta is null ? [] : [m.Delta], deltas =>
        {
            var @base = bases(m.Base);
            lock (@base) return new FoundCircuitOnBase(Heads(@base.ConformityCircuit(deltas.FirstOrDefault(), m.Contrasts)), node);
        }));
    }

    public static CircuitHeads? Heads(ConformityCircuitResult? found) => found is null ? null : new CircuitHeads(found.Heads, found.Used);

    /// <summary>Answers with what <paramref name="work"/> computes from the message's deltas (made for it, disposed after).</summary>
    void Reply(IReadOnlyList<WireDelta> table, Func<IReadOnlyList<AgentDelta>, object> work)
    {
        var deltas = new List<AgentDelta>();
        try
        {
            foreach (var d in table) deltas.Add(d.ToDelta());
            Sender.Tell(work(deltas));
        }
        catch (Exception e) { Sender.Tell(new Status.Failure(e)); }
        finally
        {
            foreach (var d in deltas) d.Dispose();
        }
    }
}
