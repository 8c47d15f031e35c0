using Akka.Actor;
using Evolution.Agents;
using Evolution.Agents.Population;
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
/// ask, answer and learn messages of one batch. A population (<see cref="Population"/>): a batch of 1,000 agents' questions
/// on one base, through one base actor in one process against the base's ten sharded entities on the two workers.
/// </summary>
public static class ClusterBenchmarks
{
    public sealed record ClusterCost(string Setup, double RoundTripMs, double AnswersPerSecond);
    public sealed record WireSize(string Message, int Items, int Bytes);
    public sealed record PopulationClusterCost(string Setup, int Agents, double AnswersPerSecond);

    const int Questions = 16;

    public static (IReadOnlyList<ClusterCost> Costs, IReadOnlyList<WireSize> Wire, IReadOnlyList<PopulationClusterCost> Population) Measure(bool quick)
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
        var population = new Population(world, tokenizer, quick);
        var populationCosts = new List<PopulationClusterCost>();
        using (var single = ActorSystem.Create("evolution", Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING")))
        {
            var agents = names.ToDictionary(n => n, n => single.ActorOf(AgentActor.Props(Home(n)), n));
            costs.Add(Time("1 process", ActorAgentGroup.Local(agents, ActorRefs.Nobody, timeout)).GetAwaiter().GetResult());
            var baseActor = single.ActorOf(BaseActor.Props(_ => population.Base), "base-0");
            populationCosts.Add(population.Time("1 process", BaseActors.Local([population.Base], [baseActor], timeout)));
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

            // Each worker its own copy of the base (the same weights), as on its own machine.
            foreach (var worker in workers)
            {
                var copy = population.Copy();
                ClusterNode.HostBases(worker, _ => copy, ClusterNode.WorkerRole).Wait(timeout);
            }
            var bases = ClusterNode.ReachBases(coordinator, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            while (ClusterNode.RegisteredRegions(bases) < workers.Count)
            {
                if (DateTime.UtcNow > deadline + timeout) throw new TimeoutException("the workers' base regions did not register");
                Thread.Sleep(50);
            }
            populationCosts.Add(population.Time("coordinator + 2 workers", BaseActors.Sharded([population.Base], bases, timeout, null)));

            // What the common messages weigh on the wire.
            var serializer = new WireSerializer((ExtendedActorSystem)coordinator);
            using var agent = Home("a1").Rebuild();
            var news = items.Take(4).Select(i => new NewsItem(i.Question.Subject, i.Question.Relation, i.Question.Candidates[1], 1, "A statement of the news.", i.Question.Prompt)).ToList();
            foreach (var (name, message, count) in new (string, object, int)[]
            {
                ("ask", new AskAgent("k", items), items.Count), ("answer", new AgentAnswered("k", agent.Answer(items)), items.Count), ("learn", new LearnNews("k", news), news.Count),
                ("population ask (each agent its own rank-1 delta)", population.Message(100), 100),
            })
            {
                wire.Add(new WireSize(name, count, serializer.ToBinary(message).Length));
                Output.Status.MarkupLine($"wire {name}: {wire[^1].Bytes:N0} bytes for {count} items");
            }
        }
        finally
        {
            foreach (var system in workers.Append(coordinator)) system.Terminate().Wait(TimeSpan.FromSeconds(30));
            population.Dispose();
        }
        return (costs, wire, populationCosts);
    }

    /// <summary>
    /// 1,000 agents on one base of the default agent's shape (untrained), each with its own rank-1 change of the last layer
    /// (<see cref="PopulationBenchmarks.RandomDeltas"/>) and one of 16 questions with 8 candidates: the batch a spread round asks.
    /// </summary>
    sealed class Population : IDisposable
    {
        const int Agents = 1_000;
        readonly List<Gpt> models = [];
        readonly List<Updates.Population.AgentDelta> deltas;
        readonly List<AgentQuery> queries;
        readonly ITextTokenizer tokenizer;
        readonly bool quick;

        public Population(World world, ITextTokenizer tokenizer, bool quick)
        {
            (this.tokenizer, this.quick) = (tokenizer, quick);
            Base = Copy();
            deltas = PopulationBenchmarks.RandomDeltas(Base.Model.Config, Agents);
            var questions = BenchWorld.Queries(world, Questions)
                .Select(q => q with { Candidates = [q.Answer, .. q.Candidates.Where(c => c != q.Answer).Take(7)] }).ToList();
            queries = [.. deltas.Select((d, i) => new AgentQuery(d, questions[i % Questions].Prompt, questions[i % Questions].Candidates))];
        }

        public SharedBase Base { get; }

        /// <summary>Another copy of the base: the same seed, so the same weights.</summary>
        public SharedBase Copy()
        {
            var model = new Gpt(AgentProfile.Default.Model.ToConfig(tokenizer.VocabSize), 1);
            models.Add(model);
            return new SharedBase(model, tokenizer);
        }

        /// <summary>Answers per second of the whole batch through <paramref name="source"/> (median of 3 after a warm-up; 1 when quick).</summary>
        public PopulationClusterCost Time(string setup, IBeliefSource source)
        {
            var batch = new Dictionary<int, IReadOnlyList<AgentQuery>> { [0] = queries };
            double ms = CoreBenchmarks.MedianMs(() => source.Beliefs(batch), warmup: 1, repeats: quick ? 1 : 3);
            var cost = new PopulationClusterCost(setup, Agents, Agents / (ms / 1000));
            Output.Status.MarkupLine($"population on {setup}: {cost.AnswersPerSecond:F0} answers/s ({Agents:N0} agents on one base, each its own rank-1 delta)");
            return cost;
        }

        /// <summary>A base's message for the first <paramref name="count"/> agents' questions, as one pass.</summary>
        public ScoreOnBase Message(int count) =>
            new(0, [.. deltas.Take(count).Select(WireDelta.From)], [[.. queries.Take(count).Select((q, i) => new WireQuery(i, q.Prompt, q.Candidates))]]);

        public void Dispose()
        {
            foreach (var d in deltas) d.Dispose();
            foreach (var m in models) m.Dispose();
        }
    }
}
