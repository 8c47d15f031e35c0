using Akka.Actor;
using Akka.Cluster.Sharding;
using Akka.Configuration;

namespace Evolution.Agents.Cluster;

/// <summary>
/// One node of an Evolution cluster (Akka.Cluster): its configuration, and the agents it hosts as sharded entities
/// (Akka.Cluster.Sharding, keyed by agent name). Any node may host any agent: an entity builds its agent from its
/// <see cref="AgentHome"/>, which each node makes from what it can reach (today the checkpoint cache; see the README's
/// cluster section for what does not move yet).
/// </summary>
public static class ClusterNode
{
    /// <summary>The sharded entity type of agents.</summary>
    public const string AgentType = "agent";

    /// <summary>
    /// A node listening on <paramref name="hostname"/>:<paramref name="port"/> (0: any free port), joining
    /// <paramref name="seeds"/> ("akka.tcp://evolution@host:port"; none: join later by hand). Downing by the split-brain
    /// resolver, keep-majority; every message between nodes through <see cref="WireSerializer"/>.
    /// </summary>
    public static Config Config(string hostname, int port, IReadOnlyList<string> seeds, IReadOnlyList<string>? roles = null)
    {
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
                roles = [{{string.Join(", ", (roles ?? []).Select(r => $"\"{r}\""))}}]
                downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
                split-brain-resolver { active-strategy = keep-majority, stable-after = 5s }
                sharding { remember-entities = off }
              }
            }
            """);
    }

    /// <summary>
    /// Starts this node's share of the agents: the shard region of <see cref="AgentType"/>, whose entities are
    /// <see cref="AgentActor"/>s built from <paramref name="homes"/> (by agent name).
    /// </summary>
    /// <param name="role">Only nodes of this role host agents (null: every node).</param>
    public static Task<IActorRef> HostAgents(ActorSystem system, Func<string, AgentHome> homes, string? role = null) =>
        ClusterSharding.Get(system).StartAsync(AgentType, name => AgentActor.Props(homes(name)), Settings(system, role), Extractor());

    /// <summary>A node that asks agents without hosting any (the coordinator of a run): a proxy of the region on the nodes of <paramref name="role"/>.</summary>
    public static Task<IActorRef> ReachAgents(ActorSystem system, string role) =>
        ClusterSharding.Get(system).StartProxyAsync(AgentType, role, Extractor());

    /// <summary>Shards of the agent type: every node must agree on it (an agent's shard is its name's hash modulo this); about ten per
    /// node for clusters of up to ten nodes.</summary>
    public const int Shards = 100;

    /// <summary>The role of nodes that host agents in a run with worker nodes.</summary>
    public const string WorkerRole = "agents";

    static ClusterShardingSettings Settings(ActorSystem system, string? role) =>
        role is null ? ClusterShardingSettings.Create(system) : ClusterShardingSettings.Create(system).WithRole(role);

    // Messages come wrapped in a ShardingEnvelope (agent name, message), which the extractor unwraps by itself.
    static IMessageExtractor Extractor() => HashCodeMessageExtractor.Create(Shards, _ => null!, message => message);
}
