using Akka.Actor;
using Evolution.Agents;
using Evolution.Agents.Cluster;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Spectre.Console;

namespace Evolution.Cli.Bench;

/// <summary>
/// What the cluster costs: three agents of the small shape (weights untrained, which does not change the cost) on the default
/// world, reached as one process's actors and as sharded entities on two worker ActorSystems with a coordinator that hosts none
/// (three ActorSystems in this process, talking over TCP on 127.0.0.1 through <see cref="WireSerializer"/>, so every message
/// pays serialisation and the network stack; on 2 cores the three share the machine). Round trip: an ask with no questions,
/// answered at once. Throughput: the three agents each answering batches of 16 questions at once. Wire sizes: the serialised
/// ask, answer and learn messages of one batch.
/// </summary>
public static class ClusterBenchmarks
{
    public sealed record ClusterCost(string Setup, double RoundTripMs, double AnswersPerSecond);
    public sealed record WireSize(string Message, int Items, int Bytes);

    const int Questions = 16;

    public static (IReadOnlyList<ClusterCost> Costs, IReadOnlyList<WireSize> Wire) Measure(bool quick)
    {
        var (world, tokenizer) = BenchWorld.Load();
        var profile = AgentProfile.Default with { Model = new ModelShape { Layers = 2, DModel = 64, Heads = 2 }, Update = new UpdatePolicy() };
        string[] names = ["a1", "a2", "a3"];
        AgentHome Home(string name) => new(name, () => new AgentRuntime(name, new AgentRuntime.Parts(
            new Gpt(profile.Model.ToConfig(tokenizer.VocabSize), Array.IndexOf(names, name) + 1), tokenizer, world, profile), null));
        var items = BenchWorld.Queries(world, Questions).Select(q => new AskItem(new Question(q.Subject, q.Relation, q.Prompt, q.Candidates), [])).ToList();
        int rounds = quick ? 3 : 10;

        async Task<ClusterCost> Time(string setup, ActorAgentGroup group)
        {
            foreach (var name in names) await group.Ask(name, "warm-up", items);
            var pings = new List<double>();
            for (int r = 0; r < rounds * 5; r++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                await group.Ask(names[r % names.Length], $"ping/{r}", []);
                pings.Add(clock.Elapsed.TotalMilliseconds);
            }
            var watch = System.Diagnostics.Stopwatch.StartNew();
            for (int r = 0; r < rounds; r++)
                await Task.WhenAll(names.Select(name => group.Ask(name, $"batch/{r}/{name}", items)));
            var cost = new ClusterCost(setup, CoreBenchmarks.Median(pings), rounds * names.Length * Questions / watch.Elapsed.TotalSeconds);
            Output.Status.MarkupLine($"cluster {setup}: round trip {cost.RoundTripMs:F2} ms (median of {pings.Count}), {cost.AnswersPerSecond:F0} answers/s (3 agents, batches of {Questions})");
            return cost;
        }

        var timeout = TimeSpan.FromMinutes(2);
        var costs = new List<ClusterCost>();
        using (var single = ActorSystem.Create("evolution", Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING")))
        {
            var agents = names.ToDictionary(n => n, n => single.ActorOf(AgentActor.Props(Home(n)), n));
            costs.Add(Time("1 process", ActorAgentGroup.Local(agents, ActorRefs.Nobody, timeout)).GetAwaiter().GetResult());
        }

        var coordinator = ActorSystem.Create("evolution", ClusterNode.Config("127.0.0.1", 0, [], ["coordinator"]));
        var workers = Enumerable.Range(0, 2).Select(_ => ActorSystem.Create("evolution", ClusterNode.Config("127.0.0.1", 0, [], [ClusterNode.WorkerRole]))).ToList();
        var wire = new List<WireSize>();
        try
        {
            var first = Akka.Cluster.Cluster.Get(coordinator).SelfAddress;
            foreach (var system in workers.Prepend(coordinator)) Akka.Cluster.Cluster.Get(system).JoinAsync(first).Wait(timeout);
            var deadline = DateTime.UtcNow + timeout;
            while (Akka.Cluster.Cluster.Get(coordinator).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) < 3)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("the bench's three ActorSystems did not form a cluster");
                Thread.Sleep(50);
            }
            foreach (var worker in workers) ClusterNode.HostAgents(worker, Home, ClusterNode.WorkerRole).Wait(timeout);
            var region = ClusterNode.ReachAgents(coordinator, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            costs.Add(Time("coordinator + 2 workers", ActorAgentGroup.Sharded(names, region, ActorRefs.Nobody, timeout)).GetAwaiter().GetResult());

            // What the common messages weigh on the wire.
            var serializer = new WireSerializer((ExtendedActorSystem)coordinator);
            using var agent = Home("a1").Rebuild();
            var news = items.Take(4).Select(i => new NewsItem(i.Question.Subject, i.Question.Relation, i.Question.Candidates[1], 1, "A statement of the news.", i.Question.Prompt)).ToList();
            foreach (var (name, message, count) in new (string, object, int)[]
            {
                ("ask", new AskAgent("k", items), items.Count), ("answer", new AgentAnswered("k", agent.Answer(items)), items.Count), ("learn", new LearnNews("k", news), news.Count),
            })
            {
                wire.Add(new WireSize(name, count, serializer.ToBinary(message).Length));
                Output.Status.MarkupLine($"wire {name}: {wire[^1].Bytes:N0} bytes for {count} items");
            }
        }
        finally
        {
            foreach (var system in workers.Append(coordinator)) system.Terminate().Wait(TimeSpan.FromSeconds(30));
        }
        return (costs, wire);
    }
}
