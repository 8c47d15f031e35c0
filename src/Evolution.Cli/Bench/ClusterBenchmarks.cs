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
/// world, reached as one process's actors and as sharded entities on two worker processes (<c>bench --cluster-worker</c>) with
/// this process as a coordinator that hosts none, talking over TCP on 127.0.0.1 through <see cref="WireSerializer"/>, so every
/// message pays serialisation and the network stack; on 2 cores the three processes share the machine. Round trip: an ask with
/// no questions, answered at once. Throughput: the three agents each answering batches of 16 questions at once. Wire sizes: the
/// serialised ask, answer and learn messages of one batch. A population (<see cref="Population"/>): a batch of 1,000 agents'
/// questions on one base, through one base actor in one process against the base's ten sharded entities on the two workers.
/// </summary>
public static class ClusterBenchmarks
{
    public sealed record ClusterCost(string Setup, double RoundTripMs, double AnswersPerSecond);
    public sealed record WireSize(string Message, int Items, int Bytes);
    public sealed record PopulationClusterCost(string Setup, int Agents, double AnswersPerSecond);

    const int Questions = 16;

    static readonly string[] Names = ["a1", "a2", "a3"];

    /// <summary>The bench's agents: the small shape, untrained, agent i seeded with i (every process builds the same weights).</summary>
    static Func<string, AgentHome> Homes(World world, ITextTokenizer tokenizer)
    {
        var profile = AgentProfile.Default with { Model = new ModelShape { Layers = 2, DModel = 64, Heads = 2 }, Update = new UpdatePolicy() };
        return name => new(name, () => new AgentRuntime(name, new AgentRuntime.Parts(
            new Gpt(profile.Model.ToConfig(tokenizer.VocabSize), Array.IndexOf(Names, name) + 1), tokenizer, world, profile), null));
    }

    /// <summary>
    /// The worker half, in its own process (<c>bench --cluster-worker SEED</c>): joins the bench's coordinator at
    /// <paramref name="seed"/>, hosts the agents and its own copy of the population's base, and ends when the coordinator leaves.
    /// </summary>
    public static int Worker(string seed)
    {
        var (world, tokenizer) = BenchWorld.Load();
        using var system = ClusterNode.Start("127.0.0.1", 0, [seed], [ClusterNode.WorkerRole]);
        if (ClusterNode.WaitUntilUp(system, [seed]) is { } problem) throw new InvalidOperationException(problem);
        Akka.Cluster.Cluster.Get(system).RegisterOnMemberRemoved(() => system.Terminate());
        ClusterNode.EndWithCoordinator(system);
        var copy = Population.NewBase(tokenizer);
        using var weights = copy.Model;
        ClusterNode.HostAgents(system, Homes(world, tokenizer), ClusterNode.WorkerRole).Wait();
        ClusterNode.HostBases(system, _ => copy, ClusterNode.WorkerRole).Wait();
        system.WhenTerminated.Wait();
        return 0;
    }

    public static (IReadOnlyList<ClusterCost> Costs, IReadOnlyList<WireSize> Wire, IReadOnlyList<PopulationClusterCost> Population) Measure(bool quick)
    {
        var (world, tokenizer) = BenchWorld.Load();
        var Home = Homes(world, tokenizer);
        var items = BenchWorld.Queries(world, Questions).Select(q => new AskItem(new Question(q.Subject, q.Relation, q.Prompt, q.Candidates), [])).ToList();
        int rounds = quick ? 3 : 10;

        async Task<ClusterCost> Time(string setup, ActorAgentGroup group)
        {
            foreach (var name in Names) await group.Ask(name, "warm-up", items);
            var pings = new List<double>();
            for (int r = 0; r < rounds * 5; r++)
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                await group.Ask(Names[r % Names.Length], $"ping/{r}", []);
                pings.Add(clock.Elapsed.TotalMilliseconds);
            }
            var watch = System.Diagnostics.Stopwatch.StartNew();
            for (int r = 0; r < rounds; r++)
                await Task.WhenAll(Names.Select(name => group.Ask(name, $"batch/{r}/{name}", items)));
            var cost = new ClusterCost(setup, CoreBenchmarks.Median(pings), rounds * Names.Length * Questions / watch.Elapsed.TotalSeconds);
            Output.Status.MarkupLine($"cluster {setup}: round trip {cost.RoundTripMs:F2} ms (median of {pings.Count}), {cost.AnswersPerSecond:F0} answers/s (3 agents, batches of {Questions})");
            return cost;
        }

        var timeout = TimeSpan.FromMinutes(2);
        var costs = new List<ClusterCost>();
        var population = new Population(world, tokenizer, quick);
        var populationCosts = new List<PopulationClusterCost>();
        using (var single = ActorSystem.Create("evolution", Akka.Configuration.ConfigurationFactory.ParseString("akka.loglevel = WARNING")))
        {
            var agents = Names.ToDictionary(n => n, n => single.ActorOf(AgentActor.Props(Home(n)), n));
            costs.Add(Time("1 process", ActorAgentGroup.Local(agents, ActorRefs.Nobody, timeout)).GetAwaiter().GetResult());
            var baseActor = single.ActorOf(BaseActor.Props(_ => population.Base), "base-0");
            populationCosts.Add(population.Time("1 process", BaseActors.Local([population.Base], [baseActor], timeout)));
        }

        // The coordinator is this process; each worker is a process of its own, as `run --local-nodes` starts them.
        var coordinator = ActorSystem.Create("evolution", ClusterNode.Config("127.0.0.1", 0, [], [ClusterNode.CoordinatorRole]));
        var workers = new List<System.Diagnostics.Process>();
        var wire = new List<WireSize>();
        bool relaying = true; // the workers' warnings while they serve (a loaded machine's delayed heartbeats), not their shutdown's
        try
        {
            var cluster = Akka.Cluster.Cluster.Get(coordinator);
            cluster.JoinAsync(cluster.SelfAddress).Wait(timeout);
            for (int n = 0; n < 2; n++)
            {
                var start = SelfCommand.With("bench", "--cluster-worker", cluster.SelfAddress.ToString());
                var worker = System.Diagnostics.Process.Start(start) ?? throw new InvalidOperationException("could not start a bench worker process");
                worker.OutputDataReceived += (_, e) => { };
                worker.ErrorDataReceived += (_, e) => { if (e.Data is { } line && Volatile.Read(ref relaying)) Output.Status.MarkupLine($"[grey]worker {worker.Id}: {Markup.Escape(line)}[/]"); };
                worker.BeginOutputReadLine();
                worker.BeginErrorReadLine();
                workers.Add(worker);
            }
            var region = ClusterNode.ReachAgents(coordinator, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            var bases = ClusterNode.ReachBases(coordinator, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            var deadline = DateTime.UtcNow + timeout;
            while (ClusterNode.RegisteredRegions(region) < workers.Count || ClusterNode.RegisteredRegions(bases) < workers.Count)
            {
                if (workers.FirstOrDefault(w => w.HasExited) is { } dead) throw new InvalidOperationException($"a bench worker process exited ({dead.ExitCode})");
                if (DateTime.UtcNow > deadline) throw new TimeoutException("the bench's worker processes did not join and host agents and bases within 2 minutes");
                Thread.Sleep(100);
            }
            costs.Add(Time("coordinator + 2 worker processes", ActorAgentGroup.Sharded(Names, region, ActorRefs.Nobody, timeout)).GetAwaiter().GetResult());
            populationCosts.Add(population.Time("coordinator + 2 worker processes", BaseActors.Sharded([population.Base], bases, timeout, null)));

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
            // Leaving ends the workers (they follow the coordinator out); any that lingers is killed.
            Volatile.Write(ref relaying, false);
            Akka.Cluster.Cluster.Get(coordinator).LeaveAsync().Wait(TimeSpan.FromSeconds(30));
            coordinator.Terminate().Wait(TimeSpan.FromSeconds(30));
            foreach (var worker in workers)
            {
                if (!worker.WaitForExit(TimeSpan.FromSeconds(30))) worker.Kill(entireProcessTree: true);
                worker.Dispose();
            }
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
        readonly List<Updates.Population.AgentDelta> deltas;
        readonly List<AgentQuery> queries;
        readonly ITextTokenizer tokenizer;
        readonly bool quick;

        public Population(World world, ITextTokenizer tokenizer, bool quick)
        {
            (this.tokenizer, this.quick) = (tokenizer, quick);
            Base = NewBase(tokenizer);
            deltas = PopulationBenchmarks.RandomDeltas(Base.Model.Config, Agents);
            var questions = BenchWorld.Queries(world, Questions)
                .Select(q => q with { Candidates = [q.Answer, .. q.Candidates.Where(c => c != q.Answer).Take(7)] }).ToList();
            queries = [.. deltas.Select((d, i) => new AgentQuery(d, questions[i % Questions].Prompt, questions[i % Questions].Candidates))];
        }

        public SharedBase Base { get; }

        /// <summary>The base, in any process: the default agent's shape, seed 1, so the same weights everywhere.</summary>
        public static SharedBase NewBase(ITextTokenizer tokenizer) => new(new Gpt(AgentProfile.Default.Model.ToConfig(tokenizer.VocabSize), 1), tokenizer);

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
            Base.Model.Dispose();
        }
    }
}
