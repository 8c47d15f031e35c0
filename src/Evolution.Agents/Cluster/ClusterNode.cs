using Akka.Actor;
using Akka.Event;
using Akka.Cluster;
using Akka.Cluster.Sharding;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;

namespace Evolution.Agents.Cluster;

/// <summary>
/// One node of an Evolution cluster (Akka.Cluster): its configuration, and the agents it hosts as sharded entities
/// (Akka.Cluster.Sharding, keyed by agent name). Any node may host any agent: an entity builds its agent from its
/// <see cref="AgentHome"/>, which each node makes from what it can reach (the checkpoint cache, filled from the coordinator's
/// when it lacks one), and from its history in the run database, read through the recorder singleton.
/// </summary>
public static class ClusterNode
{
    /// <summary>The sharded entity type of agents.</summary>
    public const string AgentType = "agent";

    /// <summary>The sharded entity type of a population's bases (<see cref="Population.BaseActors.EntityId"/>: base and slot).</summary>
    public const string BaseType = "base";

    /// <summary>
    /// A node listening on <paramref name="hostname"/>:<paramref name="port"/> (0: any free port), joining
    /// <paramref name="seeds"/> ("akka.tcp://evolution@host:port"; none: join later by hand). Downing by the split-brain
    /// resolver, keep-majority; every message between nodes through <see cref="WireSerializer"/>.
    /// </summary>
    /// <param name="protocol">The protocol this node speaks (<see cref="Protocol"/>; another value only to drill a mismatch).</param>
    public static Config Config(string hostname, int port, IReadOnlyList<string> seeds, IReadOnlyList<string>? roles = null, string? protocol = null)
    {
        roles = [.. roles ?? [], ProtocolRolePrefix + (protocol ?? Protocol)];
        var bindings = string.Join("\n", WireSerializer.Messages.Select(t => $"      \"{t.FullName}, {t.Assembly.GetName().Name}\" = evolution"));
        return ConfigurationFactory.ParseString($$"""
            akka {
              loglevel = WARNING
              stdout-loglevel = OFF
              loggers = ["{{typeof(StderrLogger).FullName}}, {{typeof(StderrLogger).Assembly.GetName().Name}}"]
              log-dead-letters = off
              log-dead-letters-during-shutdown = off
              actor {
                provider = cluster
                serializers { evolution = "{{typeof(WireSerializer).FullName}}, {{typeof(WireSerializer).Assembly.GetName().Name}}" }
                serialization-bindings {
            {{bindings}}
                }
              }
              # Snapshots and circuits of a whole step travel as one message: frames up to 32 MB (Akka's default is 128 kB,
              # beyond which a message is dropped, and the ask that waits for it times out).
              remote.dot-netty.tcp {
                hostname = "{{hostname}}", port = {{port}}
                maximum-frame-size = 32000000b, send-buffer-size = 32000000b, receive-buffer-size = 32000000b
              }
              cluster {
                seed-nodes = [{{string.Join(", ", seeds.Select(s => $"\"{s}\""))}}]
                roles = [{{string.Join(", ", roles.Select(r => $"\"{r}\""))}}]
                # A node whose seeds never answer gives up (and its system terminates) instead of retrying for ever.
                shutdown-after-unsuccessful-join-seed-nodes = {{(seeds.Count > 0 ? $"{JoinTimeout.TotalSeconds:F0}s" : "off")}}
                downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
                split-brain-resolver { active-strategy = keep-majority, stable-after = 5s }
                sharding { remember-entities = off }
                # Akka 1.5.73's proxy ticks its identification-failure timer with no initial delay, so it warns that the
                # singleton was not found "after 30 seconds" at every start and end; a run that cannot reach it times out anyway.
                singleton-proxy.log-singleton-identification-failure = off
              }
            }
            """)
            // Sharding's and singletons' own serializers from the start: a coordinator's proxy may reach a worker before it starts its regions.
            .WithFallback(ClusterSharding.DefaultConfig())
            .WithFallback(ClusterSingleton.DefaultConfig());
    }

    /// <summary>
    /// The actor system of a node (<see cref="Config"/>); a port another process holds is refused as the user's mistake it is,
    /// naming host and port, not as Akka's transport exception.
    /// </summary>
    public static ActorSystem Start(string hostname, int port, IReadOnlyList<string> seeds, IReadOnlyList<string>? roles = null, string? protocol = null)
    {
        // Probed before Akka binds it: Akka's remoting would log its own failure, stack trace and all, before the refusal.
        if (port != 0 && !Free(hostname, port)) throw InUse(hostname, port);
        try { return ActorSystem.Create("evolution", Config(hostname, port, seeds, roles, protocol)); }
        catch (Exception e) when (Unwrap(e).Any(x => x is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.AddressAlreadyInUse }))
        {
            throw InUse(hostname, port);
        }
    }

    static Core.InputException InUse(string hostname, int port) =>
        new(null, "--port", $"port {port} on {hostname} is in use by another process: choose another --port (0: any free one)");

    static bool Free(string hostname, int port)
    {
        var address = System.Net.IPAddress.TryParse(hostname, out var ip) ? ip : System.Net.Dns.GetHostAddresses(hostname).FirstOrDefault() ?? System.Net.IPAddress.Any;
        var probe = new System.Net.Sockets.TcpListener(address, port);
        try { probe.Start(); return true; }
        catch (System.Net.Sockets.SocketException e) when (e.SocketErrorCode == System.Net.Sockets.SocketError.AddressAlreadyInUse) { return false; }
        finally { probe.Stop(); }
    }

    static IEnumerable<Exception> Unwrap(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            yield return x;
            if (x is AggregateException aggregate)
                foreach (var inner in aggregate.InnerExceptions.SelectMany(Unwrap)) yield return inner;
        }
    }

    /// <summary>How long a node tries its seed nodes before it gives up.</summary>
    public static readonly TimeSpan JoinTimeout = TimeSpan.FromSeconds(15);

    const string ProtocolRolePrefix = "protocol-";

    /// <summary>
    /// The protocol nodes speak, carried as a role so that every member sees every other's at join: a hash of the wire messages'
    /// shapes (each type's name and its properties' names and types) and of the training code's version (nodes build agents from
    /// the same cache only if they train alike). Nodes built from code that differs in either cannot work together.
    /// </summary>
    public static readonly string Protocol = ComputeProtocol();

    static string ComputeProtocol()
    {
        var shapes = WireSerializer.Messages.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t =>
            t.Name + "(" + string.Join(",", t.GetProperties().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => $"{p.Name}:{p.PropertyType}")) + ")");
        var text = $"code {Core.Agents.AgentTraining.CodeVersion};" + string.Join(";", shapes);
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..12];
    }

    static string? ProtocolOf(Member member) => member.Roles.FirstOrDefault(r => r.StartsWith(ProtocolRolePrefix, StringComparison.Ordinal))?[ProtocolRolePrefix.Length..];

    /// <summary>A member that speaks another protocol than this node, as one line naming it (null: every member agrees).</summary>
    public static string? Mismatch(Akka.Cluster.Cluster cluster)
    {
        var own = ProtocolOf(cluster.SelfMember);
        return cluster.State.Members.Where(m => m.Status == MemberStatus.Up && ProtocolOf(m) != own).Select(m =>
            $"the node at {m.Address} speaks protocol {ProtocolOf(m) ?? "(none)"}, this one at {cluster.SelfAddress} speaks {own}: build every node from the same code").FirstOrDefault();
    }

    /// <summary>
    /// Waits until this node is up in the cluster its seeds lead to and every member speaks its protocol; returns null then, or
    /// one line saying what went wrong (no seed answered within <see cref="JoinTimeout"/>, or a member built from other code,
    /// in which case this node leaves).
    /// </summary>
    public static string? WaitUntilUp(ActorSystem system, IReadOnlyList<string> seeds)
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        var up = new TaskCompletionSource();
        cluster.RegisterOnMemberUp(() => up.TrySetResult());
        if (Task.WaitAny([up.Task, system.WhenTerminated], JoinTimeout + TimeSpan.FromSeconds(5)) != 0)
            return $"could not join the cluster at {string.Join(", ", seeds)} within {JoinTimeout.TotalSeconds:F0} s: no seed node answered (is the coordinator running, and are host and port right?)";
        if (Mismatch(cluster) is not { } problem) return null;
        cluster.LeaveAsync().Wait(TimeSpan.FromSeconds(10));
        return problem;
    }

    /// <summary>
    /// Starts this node's share of the agents: the shard region of <see cref="AgentType"/>, whose entities are
    /// <see cref="AgentActor"/>s built from <paramref name="homes"/> (by agent name).
    /// </summary>
    /// <param name="role">Only nodes of this role host agents (null: every node).</param>
    /// <param name="recorder">The run's recorder (<see cref="ReachSingleton"/> of <see cref="RecorderName"/>), where each agent
    /// built here reads its history first; null: agents start from their checkpoints and what this node's homes hold.</param>
    public static Task<IActorRef> HostAgents(ActorSystem system, Func<string, AgentHome> homes, string? role = null, IActorRef? recorder = null) =>
        ClusterSharding.Get(system).StartAsync(AgentType, name => AgentActor.Props(homes(name), recorder), Settings(system, role), Extractor());

    /// <summary>The run's single writer of <c>run.db</c> (<see cref="Recording.RecorderActor"/>), a singleton on the coordinator.</summary>
    public const string RecorderName = "recorder";

    /// <summary>The run's moderator (<see cref="ModeratorActor"/>), a singleton on the coordinator.</summary>
    public const string ModeratorName = "moderator";

    /// <summary>
    /// A cluster singleton of the coordinator (Akka.Cluster.Tools): <paramref name="props"/> run under a singleton manager named
    /// <paramref name="name"/> on the oldest node of <see cref="CoordinatorRole"/>, at most one in the cluster at any time; returns
    /// this node's proxy of it (<see cref="ReachSingleton"/>).
    /// </summary>
    public static IActorRef Singleton(ActorSystem system, Props props, string name)
    {
        system.ActorOf(ClusterSingletonManager.Props(props, PoisonPill.Instance, ClusterSingletonManagerSettings.Create(system).WithRole(CoordinatorRole)), name);
        return ReachSingleton(system, name);
    }

    /// <summary>A proxy of the coordinator's singleton <paramref name="name"/>, wherever it runs; messages wait in it until it is found.</summary>
    public static IActorRef ReachSingleton(ActorSystem system, string name) =>
        system.ActorOf(ClusterSingletonProxy.Props($"/user/{name}", ClusterSingletonProxySettings.Create(system).WithRole(CoordinatorRole)), name + "-proxy");

    /// <summary>
    /// Starts this node's share of a population's bases: the shard region of <see cref="BaseType"/>, whose entities are
    /// <see cref="Population.BaseActor"/>s over this node's copy of each base (<paramref name="bases"/>, by index: loaded once per
    /// node when first needed, shared by that base's entities here).
    /// </summary>
    public static Task<IActorRef> HostBases(ActorSystem system, Func<int, Population.SharedBase> bases, string? role = null) =>
        ClusterSharding.Get(system).StartAsync(BaseType, _ => Population.BaseActor.Props(bases), Settings(system, role), Extractor());

    /// <summary>A proxy of the bases' region on the nodes of <paramref name="role"/> (the coordinator of a population run).</summary>
    public static Task<IActorRef> ReachBases(ActorSystem system, string role) =>
        ClusterSharding.Get(system).StartProxyAsync(BaseType, role, Extractor());

    /// <summary>A node that asks agents without hosting any (the coordinator of a run): a proxy of the region on the nodes of <paramref name="role"/>.</summary>
    public static Task<IActorRef> ReachAgents(ActorSystem system, string role) =>
        ClusterSharding.Get(system).StartProxyAsync(AgentType, role, Extractor());

    /// <summary>
    /// The shard regions the agents' shard coordinator knows, asked through any region or proxy (0 while the coordinator is not
    /// reachable yet). Shards go to the regions registered when an agent is first asked: wait for them all before asking.
    /// </summary>
    public static int RegisteredRegions(IActorRef region)
    {
        try { return region.Ask<ClusterShardingStats>(new GetClusterShardingStats(TimeSpan.FromSeconds(2)), TimeSpan.FromSeconds(5)).GetAwaiter().GetResult().Regions.Count; }
        catch (AskTimeoutException) { return 0; }
    }

    /// <summary>Shards of the agent type: every node must agree on it (an agent's shard is its name's hash modulo this); about ten per
    /// node for clusters of up to ten nodes.</summary>
    public const int Shards = 100;

    /// <summary>The role of nodes that host agents in a run with worker nodes.</summary>
    public const string WorkerRole = "agents";

    /// <summary>The role of the node that runs the scenario (moderator, recorder, a population's agents).</summary>
    public const string CoordinatorRole = "coordinator";

    /// <summary>
    /// A worker serves one run: when a coordinator is removed from the cluster (its run ended and it left, or it was lost and
    /// downed), this node leaves too, which ends it (<see cref="Akka.Cluster.Cluster.RegisterOnMemberRemoved"/>).
    /// </summary>
    public static void EndWithCoordinator(ActorSystem system) => OnMemberRemoved(system, "coordinator-watcher", (removed, log) =>
    {
        if (!removed.Member.HasRole(CoordinatorRole)) return;
        log.Warning("the coordinator at {0} left the cluster: this worker leaves too", removed.Member.Address);
        var cluster = Akka.Cluster.Cluster.Get(system);
        cluster.Leave(cluster.SelfAddress);
    });

    /// <summary>Runs <paramref name="removed"/> (with the watcher's log) for every member removal this node sees from now on.</summary>
    public static void OnMemberRemoved(ActorSystem system, string name, Action<ClusterEvent.MemberRemoved, ILoggingAdapter> removed) =>
        system.ActorOf(Props.Create(() => new RemovalWatcher(removed)), name);

    sealed class RemovalWatcher : ReceiveActor
    {
        public RemovalWatcher(Action<ClusterEvent.MemberRemoved, ILoggingAdapter> removed)
        {
            var log = Context.GetLogger();
            Receive<ClusterEvent.MemberRemoved>(m => removed(m, log));
            Receive<ClusterEvent.CurrentClusterState>(_ => { });
        }

        protected override void PreStart() =>
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot, typeof(ClusterEvent.MemberRemoved));

        protected override void PostStop() => Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
    }

    /// <summary>Seed node addresses from a comma-separated list, each checked; a malformed one is the user's mistake in <paramref name="field"/>.</summary>
    public static IReadOnlyList<string> ParseSeeds(string text, string field)
    {
        var seeds = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (seeds.Length == 0) throw new Core.InputException(null, field, "names no seed node (akka.tcp://evolution@HOST:PORT[,..])");
        foreach (var seed in seeds)
            if (!Address.TryParse(seed, out _)) throw new Core.InputException(null, field, $"'{seed}' is not a node address (akka.tcp://evolution@HOST:PORT)");
        return seeds;
    }

    static ClusterShardingSettings Settings(ActorSystem system, string? role) =>
        role is null ? ClusterShardingSettings.Create(system) : ClusterShardingSettings.Create(system).WithRole(role);

    // Messages come wrapped in a ShardingEnvelope (agent name, message), which the extractor unwraps by itself.
    static IMessageExtractor Extractor() => HashCodeMessageExtractor.Create(Shards, _ => null!, message => message);
}
