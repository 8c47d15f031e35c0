using Akka.Actor;
using Akka.Cluster.Sharding;
using Evolution.Agents;
using Evolution.Agents.Cluster;
using Evolution.Agents.Population;
using Evolution.Mechanisms;
using Evolution.Updates.Population;
using Evolution.Agents.Protocols;
using Evolution.Core.Worlds;

namespace Evolution.Scenarios.Tests;

/// <summary>
/// Agents as sharded entities of an Akka.NET cluster: several ActorSystems in this process (port 0, traffic on 127.0.0.1 only),
/// every message between them through <see cref="WireSerializer"/>.
/// </summary>
[Collection(TinyGroupCollection.Name)]
public class ClusterTests(TinyGroup group)
{
    static readonly string[] Names = ["ada", "bo", "cy"];
    static int SeedOf(string agent) => Array.IndexOf(Names, agent) + 1;

    static ProtocolContext Context() => new(new DirectAgentGroup([]), new NullSink(), TinyGroup.World(), seed: 5, new Dictionary<string, Core.Agents.AgentProfile>(), null);

    /// <summary>Questions about the first facts of the tiny world, the even ones read with two peers stating another candidate.</summary>
    static IReadOnlyList<AskItem> Questions(int count)
    {
        var context = Context();
        var world = context.World;
        return [.. world.FactsAt(0).Take(count).Select((f, i) =>
        {
            var fact = new FactRef(f.Subject, f.Relation);
            var question = context.QuestionFor(fact);
            string other = question.Candidates.First(c => c != context.Truth(fact));
            return new AskItem(question, i % 2 == 1 ? [] : [.. Enumerable.Range(1, 2).Select(c => new PeerStatement($"peer{c}", other, context.Sentence(fact, other, $"peer{c}", 0)))]);
        })];
    }

    [Fact]
    public async Task EveryWireMessageIsBoundToTheWireSerializerAndSurvivesTheTrip()
    {
        using var agent = group.Runtime("ada", 1);
        var items = Questions(6);
        var world = TinyGroup.World();
        var facts = world.FactsAt(0).Take(2).Select(f => new FactRef(f.Subject, f.Relation)).ToList();
        var question = items[0].Question;
        // Contrasts of the first fact against each other candidate: those of the truth's token length are usable.
        var context = Context();
        string truth = context.Truth(facts[0]);
        string Said(string answer) => context.Sentence(facts[0], answer, "peer1", 0);
        var probes = question.Candidates.Where(c => c != truth).Select(wrong => new ConformityProbe(question, [Said(wrong)], [Said(truth)], truth, wrong)).ToList();
        var news = new NewsItem(facts[0].Subject, facts[0].Relation, question.Candidates[1], 1, "a statement.", question.Prompt);
        var intervened = items[0] with { Intervention = new Mechanisms.Intervention("quiet", Mechanisms.HeadAblation.Scale, [new Mechanisms.HeadRef(1, 0)], 0.5, PeerAttention: true) };
        // One real instance of every message: answers with their mechanism records, circuits, snapshots, heads.
        var samples = new object[]
        {
            new AskAgent("k1", [.. items, intervened]), new AgentAnswered("k1", agent.Answer(items)), new LearnNews("k2", [news]),
            new NewsLearned("k2", new UpdateOutcome("ada", "rag", true, 120, 0.5, "stored")), new TakeSnapshot("k3", ["Orlen"]),
            new SnapshotTaken("k3", "ada", agent.Residuals([world.Entities[0].Name])), new TraceCircuits("k4", facts, 0, 0.1),
            new CircuitsTraced("k4", "ada", agent.Circuits(facts, 0, 0.1)), new FindConformityHeads("k5", probes), agent.ConformityHeads("k5", probes),
            new FailNextMessage("drill"), new FaultArmed(),
            new RestoreLearned([new LearnNews("k2", [news])], [new UpdateOutcome("ada", "ft-l", true, 4096, 1.5)]),
            new ReadHistory("ada"), new AgentHomed("ada", "akka.tcp://evolution@127.0.0.1:4053", 2, new DateTime(2026, 12, 2, 13, 0, 0, DateTimeKind.Utc)), new ReachAgent("ada"), new AgentReached("ada", "akka.tcp://evolution@127.0.0.1:4053"),
        };
        samples = [.. samples, .. PopulationMessages(agent, items),
            new ListCheckpoint("tiny-tiny-0123456789abcdef"), new CheckpointListed("tiny-tiny-0123456789abcdef", [new CheckpointFile("model.safetensors", 3, "ab12")]),
            new ReadCheckpoint("tiny-tiny-0123456789abcdef", "model.safetensors", 0, 3), new CheckpointRead([1, 2, 255])];
        Assert.Equal(WireSerializer.Messages.OrderBy(t => t.Name), samples.Select(s => s.GetType()).OrderBy(t => t.Name));
        Assert.Contains(((AgentAnswered)samples[1]).Answers, a => a.PeerTrace is not null);

        using var system = ActorSystem.Create("evolution", ClusterNode.Config("127.0.0.1", 0, []));
        foreach (var message in samples)
        {
            var serializer = Assert.IsType<WireSerializer>(system.Serialization.FindSerializerFor(message));
            var copy = system.Serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, serializer.Manifest(message));
            Assert.IsType(message.GetType(), copy);
            Assert.Equal(Json(message), Json(copy));
        }
    }

    /// <summary>
    /// One real instance of each message between a population and its bases: a low-rank and a dense delta (their float32 bytes must
    /// come back exact), questions scored and records analysed on the tiny agent's weights, a conformity circuit's heads.
    /// </summary>
    static object[] PopulationMessages(AgentRuntime agent, IReadOnlyList<AskItem> items)
    {
        var config = agent.Model.Config;
        using var lowRank = LayerDelta.LowRank(TorchSharp.torch.randn(config.DModel, 2), TorchSharp.torch.randn(config.DMlp, 2));
        using var dense = LayerDelta.Dense(TorchSharp.torch.randn(config.DModel, config.DMlp));
        using var delta = new AgentDelta(new Dictionary<int, LayerDelta> { [0] = lowRank.Copy(), [1] = dense.Copy() });
        var wire = WireDelta.From(delta);
        using (var back = wire.ToDelta())
            foreach (var (layer, original) in delta.Layers)
            {
                using var expected = original.ToDense();
                using var actual = back.Layers[layer].ToDense();
                Assert.True(expected.eq(actual).all().item<bool>(), $"layer {layer} of the delta changed on its way");
            }
        var questions = items.Take(3).Select((item, i) => new WireQuery(i - 1, item.Question.Prompt, item.Question.Candidates)).ToList();
        var shared = new SharedBase(agent.Model, agent.Tokenizer);
        var beliefs = shared.Beliefs([.. questions.Select(q => new AgentQuery(null, q.Prompt, q.Candidates))]);
        var question = items[0].Question;
        var peer = items[0].Peers[0];
        string said = peer.Sentence + " ";
        var query = new PeerQuery(new PeerReading(question.Prompt, said + question.Prompt, 0, said.Length), question.Candidates.First(c => c != peer.Answer).Trim(), peer.Answer.Trim(), (-1.25, -0.5));
        var record = shared.AnalyzePeers([new AgentPeerQuery(null, query)]);
        var contrast = new Mechanisms.Circuits.ConformityContrast(said + question.Prompt, question.Prompt, query.OwnAnswer, query.PeersAnswer);
        return
        [
            new ScoreOnBase(1, [wire], [questions]), new ScoredOnBase([beliefs]), new AnalyzeOnBase(0, [wire], [[new WirePeerQuery(0, query)]]),
            new AnalyzedOnBase([record]), new FindCircuitOnBase(0, wire, [contrast]), new FoundCircuitOnBase(new CircuitHeads([new(1, 0, 0.25), new(0, 1, -0.125)], 2)),
        ];
    }

    /// <summary>A message or record as JSON with its runtime type's every member (tuples' fields and NaN included), to compare two by value.</summary>
    internal static string Json(object? o) => System.Text.Json.JsonSerializer.Serialize(o, o?.GetType() ?? typeof(object),
        new System.Text.Json.JsonSerializerOptions { IncludeFields = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });

    [Fact]
    public async Task AgentsShardedOverThreeNodesAnswerAsInOneProcessAndMoveWhenTheirNodeLeaves()
    {
        var nodes = Enumerable.Range(0, 3).Select(_ => ActorSystem.Create("evolution", ClusterNode.Config("127.0.0.1", 0, []))).ToList();
        try
        {
            var clusters = nodes.Select(Akka.Cluster.Cluster.Get).ToList();
            var first = clusters[0].SelfAddress;
            using var joining = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            foreach (var cluster in clusters) await cluster.JoinAsync(first, joining.Token);
            await Until(() => clusters.All(c => c.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 3), "three members up");

            var regions = new List<IActorRef>();
            foreach (var node in nodes)
                regions.Add(await ClusterNode.HostAgents(node, name => new AgentHome(name, () => group.Runtime(name, SeedOf(name)))));
            await Until(() => ClusterNode.RegisteredRegions(regions[0]) == 3, "three regions registered");
            var sharded = ActorAgentGroup.Sharded(Names, regions[0], ActorRefs.Nobody, TimeSpan.FromSeconds(60));

            var items = Questions(8);
            var direct = Names.ToDictionary(n => n, n => { using var runtime = group.Runtime(n, SeedOf(n)); return runtime.Answer(items); });
            foreach (var name in Names)
                AssertSameAnswers(direct[name], await sharded.Ask(name, $"ask/{name}", items));

            // The agents live on more than one node; find each one's home.
            async Task<Dictionary<string, int>> Homes()
            {
                var homes = new Dictionary<string, int>();
                for (int n = 0; n < regions.Count; n++)
                {
                    if (nodes[n].WhenTerminated.IsCompleted) continue;
                    var state = await regions[n].Ask<CurrentShardRegionState>(GetShardRegionState.Instance, TimeSpan.FromSeconds(10));
                    foreach (var entity in state.Shards.SelectMany(s => s.EntityIds)) homes[entity] = n;
                }
                return homes;
            }
            var before = await Homes();
            Assert.Equal(Names, before.Keys.Order());
            Assert.True(before.Values.Distinct().Count() >= 2, $"all agents on one node: {string.Join(", ", before)}");

            // A node other than the asking one leaves: its agents are handed off and rebuilt on the others, and answer as before.
            int leaving = before.Values.First(n => n != 0);
            var moved = before.Where(h => h.Value == leaving).Select(h => h.Key).ToList();
            await clusters[leaving].LeaveAsync();
            await Until(() => clusters[0].State.Members.Count == 2 && nodes[leaving].WhenTerminated.IsCompleted, "the node left and stopped");
            foreach (var name in moved)
                AssertSameAnswers(direct[name], await sharded.Ask(name, $"ask-again/{name}", items));
            var after = await Homes();
            Assert.All(moved, name => Assert.NotEqual(leaving, after[name]));
        }
        finally
        {
            await Task.WhenAll(nodes.Select(n => n.Terminate()));
        }
    }

    [Fact]
    public async Task AnAgentWhoseNodeCrashesIsRebuiltElsewhereWithWhatItLearnedAndTheRequestThatWasOutIsAnswered()
    {
        // A crash, not a leave: this node's system stops without telling the cluster, which sees it unreachable, downs it
        // (split-brain resolver, keep-majority) and removes it.
        var crashable = Akka.Configuration.ConfigurationFactory.ParseString("akka.coordinated-shutdown.run-by-actor-system-terminate = off");
        var asking = ClusterNode.Start("127.0.0.1", 0, [], ["coordinator"]);
        var workers = Enumerable.Range(0, 2).Select(_ => ActorSystem.Create("evolution", crashable.WithFallback(ClusterNode.Config("127.0.0.1", 0, [], [ClusterNode.WorkerRole])))).ToList();
        try
        {
            var first = Akka.Cluster.Cluster.Get(asking).SelfAddress;
            foreach (var system in workers.Prepend(asking)) await Akka.Cluster.Cluster.Get(system).JoinAsync(first);
            await Until(() => Akka.Cluster.Cluster.Get(asking).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 3, "three members up");
            // Ada writes news into her weights (FT-L): an agent rebuilt from its checkpoint alone would answer without it. The
            // recorder is the coordinator's singleton, over a run database; agents built on the workers read their history there.
            AgentHome Home(string name) => new(name, () => group.Runtime(name, SeedOf(name), channel: name == "ada" ? Core.Agents.UpdateChannel.FtL : Core.Agents.UpdateChannel.None));
            var folder = Path.Combine(group.Directory, "runs", "crash-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(folder);
            using var db = new Agents.Recording.RunDatabase(Path.Combine(folder, Agents.Recording.RunDatabase.FileName));
            var recorder = ClusterNode.Singleton(asking, Agents.Recording.RecorderActor.Props(db), ClusterNode.RecorderName);
            var regions = new List<IActorRef>();
            foreach (var worker in workers) regions.Add(await ClusterNode.HostAgents(worker, Home, ClusterNode.WorkerRole, ClusterNode.ReachSingleton(worker, ClusterNode.RecorderName)));
            var proxy = await ClusterNode.ReachAgents(asking, ClusterNode.WorkerRole);
            await Until(() => ClusterNode.RegisteredRegions(proxy) == 2, "two regions registered");
            var losses = NodeLosses.Watch(asking);
            var sharded = ActorAgentGroup.Sharded(Names, proxy, ActorRefs.Nobody, TimeSpan.FromSeconds(90), losses);

            var items = Questions(8);
            var context = Context();
            var news = items.Take(3).Select(i => new NewsItem(i.Question.Subject, i.Question.Relation, i.Question.Candidates[1], 1,
                context.Sentence(new FactRef(i.Question.Subject, i.Question.Relation), i.Question.Candidates[1], "news", 1), i.Question.Prompt)).ToList();
            var outcome = await sharded.Learn("ada", "learn/ada", news);
            Assert.True(outcome.Applied);
            recorder.Tell(Agents.Recording.UpdateEvent.Of(1, "news", "ada", new LearnNews("learn/ada", news), outcome, [])); // as the news protocol records it
            var learned = await sharded.Ask("ada", "ask/ada/1", items);
            using (var fresh = Home("ada").Rebuild())
            {
                var unlearned = fresh.Answer(items);
                Assert.True(learned.Zip(unlearned).Any(p => Math.Abs(p.First.Probability - p.Second.Probability) > 1e-3), "the news changed none of ada's answers: the test could not tell a lost edit");
            }

            int Home0() => regions.Select((r, n) => (r, n)).Single(x => !workers[x.n].WhenTerminated.IsCompleted
                && x.r.Ask<CurrentShardRegionState>(GetShardRegionState.Instance, TimeSpan.FromSeconds(10)).Result.Shards.Any(s => s.EntityIds.Contains("ada"))).n;
            int crashed = Home0();
            await workers[crashed].Terminate();
            // Asked right after the crash: the request goes to the dead node and is lost; it is sent again once the node is removed.
            var again = await sharded.Ask("ada", "ask/ada/2", items);
            Assert.True(losses.Generation >= 1, "no node loss was seen");
            AssertSameAnswers(learned, again);
            Assert.NotEqual(crashed, Home0());
            Assert.All(again, a => Assert.NotEqual(learned[0].Node, a.Node));
            // The news sent again is answered from the rebuilt agent's history, not applied twice.
            Assert.True((await sharded.Learn("ada", "learn/ada", news)).Applied);
            AssertSameAnswers(learned, await sharded.Ask("ada", "ask/ada/3", items));
        }
        finally
        {
            await Task.WhenAll(workers.Append(asking).Select(n => n.Terminate()));
        }
    }

    /// <summary>News about the first <paramref name="count"/> questions: each fact's second candidate, at epoch 1.</summary>
    static List<NewsItem> NewsAbout(IReadOnlyList<AskItem> items, int count)
    {
        var context = Context();
        return [.. items.Take(count).Select(i => new NewsItem(i.Question.Subject, i.Question.Relation, i.Question.Candidates[1], 1,
            context.Sentence(new FactRef(i.Question.Subject, i.Question.Relation), i.Question.Candidates[1], "news", 1), i.Question.Prompt))];
    }

    /// <summary>A run folder with its database, and an ActorSystem with the run's recorder over it.</summary>
    sealed class RecordedRun : IDisposable
    {
        public string Folder { get; }
        public Agents.Recording.RunDatabase Db { get; }
        public ActorSystem System { get; } = ActorSystem.Create("history");
        public IActorRef Recorder { get; }

        public RecordedRun(TinyGroup group)
        {
            Folder = Path.Combine(group.Directory, "runs", "history-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(Folder);
            Db = new Agents.Recording.RunDatabase(Path.Combine(Folder, Agents.Recording.RunDatabase.FileName));
            Recorder = System.ActorOf(Agents.Recording.RecorderActor.Props(Db));
        }

        public void Dispose()
        {
            System.Terminate().Wait(TimeSpan.FromSeconds(30));
            Db.Dispose();
        }
    }

    /// <summary>Ada edits her weights (FT-L), bo stores statements in his memory (RAG), in the memory file of the node named.</summary>
    AgentHome HomeOn(string name, string folder, string node) => new(name, () => group.Runtime(name, SeedOf(name),
        channel: name == "ada" ? Core.Agents.UpdateChannel.FtL : Core.Agents.UpdateChannel.Rag, memoryPath: name == "bo" ? Path.Combine(folder, $"bo@{node}.db") : null));

    [Fact]
    public async Task AnAgentBuiltOnAnotherNodeTakesItsEditsAndItsMemoryFromTheRunDatabase()
    {
        using var run = new RecordedRun(group);
        var (folder, system, recorder) = (run.Folder, run.System, run.Recorder);
        var items = Questions(8);
        var news = NewsAbout(items, 3);
        string[] agents = ["ada", "bo"];

        // A first life on "node 1": each agent takes the news in, and the run records it as the news protocol does.
        var learned = new Dictionary<string, IReadOnlyList<AgentAnswer>>();
        foreach (var name in agents)
        {
            var actor = system.ActorOf(AgentActor.Props(HomeOn(name, folder, "1"), recorder));
            var request = new LearnNews($"1/news/{name}", news);
            var outcome = (await actor.Ask<NewsLearned>(request, TimeSpan.FromMinutes(2))).Outcome;
            Assert.True(outcome.Applied, $"{name} did not take the news in");
            recorder.Tell(Agents.Recording.UpdateEvent.Of(1, "news", name, request, outcome, []));
            learned[name] = (await actor.Ask<AgentAnswered>(new AskAgent("ask/1", items), TimeSpan.FromMinutes(2))).Answers;
            await actor.GracefulStop(TimeSpan.FromSeconds(30));
        }

        // "Node 2" has nothing of theirs but the checkpoints (a fresh home, an empty memory file): built there, each reads its
        // history from the run database first, and answers as it did.
        foreach (var name in agents)
        {
            using (var unlearned = HomeOn(name, folder, "control").Rebuild())
                Assert.True(unlearned.Answer(items).Zip(learned[name]).Any(p => Math.Abs(p.First.Probability - p.Second.Probability) > 1e-3),
                    $"the news changed none of {name}'s answers: the test could not tell a lost update");
            var rebuilt = system.ActorOf(AgentActor.Props(HomeOn(name, folder, "2"), recorder));
            AssertSameAnswers(learned[name], (await rebuilt.Ask<AgentAnswered>(new AskAgent("ask/2", items), TimeSpan.FromMinutes(2))).Answers);
            // The news sent again (its reply was lost with node 1) is answered with what it did then, not applied twice.
            Assert.True((await rebuilt.Ask<NewsLearned>(new LearnNews($"1/news/{name}", news), TimeSpan.FromMinutes(2))).Outcome.Applied);
            AssertSameAnswers(learned[name], (await rebuilt.Ask<AgentAnswered>(new AskAgent("ask/3", items), TimeSpan.FromMinutes(2))).Answers);
            await rebuilt.GracefulStop(TimeSpan.FromSeconds(30));
        }
        using (var memory = new Updates.Retrieval.StatementMemory(Path.Combine(folder, "bo@2.db"), Updates.Retrieval.RetrieverKind.Bm25))
            Assert.Equal(news.Select(n => n.Statement).Order(), memory.All.Select(s => s.Text).Order());
    }

    [Fact]
    public async Task AnAgentRestartedBeforeItsLatestUpdateIsRecordedKeepsThatUpdate()
    {
        using var run = new RecordedRun(group);
        var (folder, system, recorder) = (run.Folder, run.System, run.Recorder);
        var items = Questions(8);
        var home = HomeOn("ada", folder, "1");
        var ada = system.ActorOf(AgentActor.Props(home, recorder));
        // The reply is out but the run has not recorded the update yet: the recorded history is behind the agent's own.
        Assert.True((await ada.Ask<NewsLearned>(new LearnNews("1/news/ada", NewsAbout(items, 3)), TimeSpan.FromMinutes(2))).Outcome.Applied);
        var learned = (await ada.Ask<AgentAnswered>(new AskAgent("ask/1", items), TimeSpan.FromMinutes(2))).Answers;
        using (var unlearned = HomeOn("ada", folder, "control").Rebuild())
            Assert.True(unlearned.Answer(items).Zip(learned).Any(p => Math.Abs(p.First.Probability - p.Second.Probability) > 1e-3),
                "the news changed none of ada's answers: the test could not tell a lost update");
        await ada.Ask<FaultArmed>(new FailNextMessage("drill"), TimeSpan.FromSeconds(30));
        // The next question fails, the actor restarts, reads the (shorter) recorded history, keeps its own, and answers it.
        AssertSameAnswers(learned, (await ada.Ask<AgentAnswered>(new AskAgent("ask/2", items), TimeSpan.FromMinutes(2))).Answers);
        Assert.Equal(1, home.Restarts);
    }

    [Fact]
    public async Task ARunWithItsAgentsOnTwoWorkerProcessesGivesTheSummaryOfASingleProcessRun()
    {
        var scenario = group.WriteScenario("on-nodes", """
              - quiz: {facts: 8}
              - news: {epoch: 1, learners: [ada]}
              - debate: {facts: news, rounds: 1, topology: all-to-all}
              - conformity: {facts: 6, wrong_peers: [0, 2]}
              - convergence: {probes: 12, k: 3}
            """);
        var single = SingleProcessRun(scenario, "on-nodes-1");

        // The same scenario with a coordinator (this CLI process) and two `evolution node` workers hosting the agents.
        var clustered = Path.Combine(group.Directory, "runs", "on-nodes-3");
        var (code, log) = await RunOnLocalNodes(scenario, clustered);
        Assert.True(code == 0, log);
        Assert.Contains("cluster: 2 worker node(s) up", log);
        Assert.Contains("node 2: node akka.tcp://evolution@127.0.0.1:", log);
        AssertSameSummary(single, clustered);

        // run.db says where each agent answered: a worker node, one per agent (none moved); nowhere in one process. The run asks
        // its agents only once both workers' regions have registered, so Akka's allocation (fewest shards first) uses both.
        using (var db = new Agents.Recording.RunDatabase(Path.Combine(clustered, Agents.Recording.RunDatabase.FileName)))
        {
            var answers = db.Answers.FindAll().ToList();
            Assert.All(answers, a => Assert.StartsWith("akka.tcp://evolution@127.0.0.1:", a.Node));
            Assert.All(answers.GroupBy(a => a.Agent), g => Assert.Single(g.Select(a => a.Node).Distinct()));
            Assert.Equal(2, answers.Select(a => a.Node).Distinct().Count());
            Assert.DoesNotContain(answers, a => a.Node!.Contains($":{ClusterNodePort(log)}"));
        }
        using (var db = new Agents.Recording.RunDatabase(Path.Combine(single, Agents.Recording.RunDatabase.FileName)))
            Assert.All(db.Answers.FindAll(), a => Assert.Null(a.Node));
    }

    [Fact]
    public async Task ARunWhoseWorkerIsKilledMidStepEndsWithTheSummaryOfASingleProcessRun()
    {
        var scenario = group.WriteScenario("worker-killed", """
              - quiz: {facts: 8}
              - news: {epoch: 1, learners: [ada]}
              - debate: {facts: news, rounds: 2, topology: all-to-all}
              - conformity: {facts: 6, wrong_peers: [0, 2]}
            """);
        // In the middle of the debate, after ada took the news into her weights: the worker hosting her is killed, so the summary
        // can match only if she is rebuilt on the other worker with her edit, read from run.db.
        var (_, clustered) = await KilledMidRun(scenario, "worker-killed", "debate: round 0", hostOf: "ada");

        // run.db shows the move: ada answered on the other worker afterwards.
        using var db = new Agents.Recording.RunDatabase(Path.Combine(clustered, Agents.Recording.RunDatabase.FileName));
        var nodes = db.Answers.FindAll().GroupBy(a => a.Agent).ToDictionary(g => g.Key, g => g.Select(a => a.Node).Distinct().Count());
        Assert.Equal(2, nodes["ada"]);
        // Every build of an agent on a node is recorded: ada's second home replayed her news there.
        var homes = db.Homes.Find(h => h.Agent == "ada").OrderBy(h => h.Built).ToList();
        Assert.Equal(2, homes.Count);
        Assert.Equal(nodes.Count, db.Homes.FindAll().Select(h => h.Agent).Distinct().Count());
        Assert.Equal((0, 1), (homes[0].Replayed, homes[1].Replayed));
        Assert.Equal(db.Answers.Find(a => a.Agent == "ada").OrderBy(a => a.Step).Last().Node, homes[1].Node);
        Assert.Contains(db.Updates.FindAll(), u => u.Agent == "ada" && u.Key == "1/news/ada" && u.News.Count > 0);
    }

    /// <summary>A tiny run whose debate comes after ada took news into her weights.</summary>
    const string NewsThenDebate = """
              - quiz: {facts: 6}
              - news: {epoch: 1, learners: [ada]}
              - debate: {facts: news, rounds: 2, topology: all-to-all}
            """;

    [Fact]
    public async Task ACoordinatorKilledMidStepLeavesNoWorkerBehindAndItsRunResumesToTheSummaryOfASingleProcessRun()
    {
        // SIGKILL the coordinator (the run itself) in the middle of the debate; its workers are left without it.
        var run = await KillAt(group.WriteScenario("coordinator-killed", NewsThenDebate), "coordinator-killed", "debate: round 0", coordinator => [coordinator]);
        Assert.NotEqual(0, run.Code);
        Assert.Equal(2, run.Workers.Count);
        // The workers down the lost coordinator (they are the majority), leave and exit: nothing is left running.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (run.Workers.Any(w => Directory.Exists($"/proc/{w}")) && DateTime.UtcNow < deadline) await Task.Delay(200);
        Assert.All(run.Workers, w => Assert.False(Directory.Exists($"/proc/{w}"), $"worker {w} still runs a minute after its coordinator was killed"));

        ScenarioRunner.Resume(run.Clustered, group.Options(run.Clustered));
        AssertSameSummary(run.Single, run.Clustered);
    }

    [Fact]
    public async Task ACoordinatorLeftInTheMinorityStopsWithOneLineAndItsRunResumesToTheSummaryOfASingleProcessRun()
    {
        // Both workers SIGKILLed at once in the middle of the debate: the coordinator is one node of three, the keep-majority
        // resolver downs it, and its system terminates. The run must end (not wait for ever on its moderator) and say so.
        var run = await KillAt(group.WriteScenario("minority", NewsThenDebate), "minority", "debate: round 0", Workers);
        Assert.Equal(1, run.Code);
        Assert.Contains($"error: this process left the cluster (the split-brain resolver downed it: it was in the minority after nodes were lost). Continue the run with `evolution resume {run.Clustered}`.",
            run.Log.Replace("\n", ""));
        ScenarioRunner.Resume(run.Clustered, group.Options(run.Clustered));
        AssertSameSummary(run.Single, run.Clustered);
    }

    [Fact]
    public async Task APopulationWhoseBasesRunOnTwoWorkersOneOfThemKilledMidSpreadEndsWithTheSummaryOfASingleProcessRun()
    {
        // 120 agents over two tiny bases (memory, ROME and no channel), a spread with a rumour and a followed agent's circuit.
        var scenario = PopulationScenarioTests.WriteScenario(group.Directory, "population-on-nodes", PopulationScenarioTests.Population,
            "{epoch: 1, facts: 2, seeded: 0.2, rumour: 0.1, steps: 6, reads: 3, circuit_facts: 2, circuit_agents: 1}");
        // The bases' forward passes on two `evolution node` workers; in the middle of the spread one of them is SIGKILLed.
        var (single, clustered) = await KilledMidRun(scenario, "population-on-nodes", "spread (step 0) 2/6");

        // run.db says where each base entity computed each round: on both workers before the kill, on the survivor after it, so an
        // entity of the killed worker shows on the other one (it moved); nowhere in one process.
        using (var db = new Agents.Recording.RunDatabase(Path.Combine(clustered, Agents.Recording.RunDatabase.FileName)))
        {
            var rounds = db.SpreadRounds.FindAll().OrderBy(r => r.Step).ToList();
            Assert.All(rounds, r => Assert.NotEmpty(r.Nodes));
            var placed = rounds.SelectMany(r => r.Nodes.Select(n => (Step: r.Step, Entity: n.Split(' ')[0], Node: n.Split(' ')[1]))).ToList();
            Assert.Equal(2, placed.Where(p => p.Step == 0).Select(p => p.Node).Distinct().Count());
            Assert.Single(placed.Where(p => p.Step == rounds[^1].Step).Select(p => p.Node).Distinct());
            Assert.Contains(placed.GroupBy(p => p.Entity), g => g.Select(p => p.Node).Distinct().Count() == 2);
        }
        using (var db = new Agents.Recording.RunDatabase(Path.Combine(single, Agents.Recording.RunDatabase.FileName)))
            Assert.All(db.SpreadRounds.FindAll(), r => Assert.Empty(r.Nodes));
    }

    [Fact]
    public async Task ARunJoinsAWorkerStartedByHandWhichGetsTheCheckpointsFromTheCoordinatorAndEndsWithTheRun()
    {
        var scenario = group.WriteScenario("joined", """
              - quiz: {facts: 6}
              - news: {epoch: 1, learners: [ada]}
              - conformity: {facts: 4, wrong_peers: [2]}
            """);
        var single = SingleProcessRun(scenario, "joined-1");

        // A worker started by hand with an empty cache, its own seed (the first node of a cluster), then `run --cluster` naming it:
        // the worker gets each agent's checkpoint from the coordinator before it hosts agents.
        var clustered = Path.Combine(group.Directory, "runs", "joined-2");
        var workerCache = Path.Combine(group.Directory, "worker-cache");
        if (Directory.Exists(workerCache)) Directory.Delete(workerCache, recursive: true);
        int port = FreePort();
        string seed = $"akka.tcp://evolution@127.0.0.1:{port}";
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "evolution.dll"), "node", scenario, "--out", clustered,
            "--cache", workerCache, "--device", "cpu", "--port", port.ToString(), "--seeds", seed]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var worker = System.Diagnostics.Process.Start(start)!;
        var workerLog = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Heard(object _, System.Diagnostics.DataReceivedEventArgs e) { if (e.Data is not null) workerLog.Enqueue(e.Data); }
        worker.OutputDataReceived += Heard;
        worker.ErrorDataReceived += Heard;
        worker.BeginOutputReadLine();
        worker.BeginErrorReadLine();
        try
        {
            await Listening(port, TimeSpan.FromMinutes(1));
            var (code, log) = await RunOnLocalNodes(scenario, clustered, nodes: ["--cluster", seed]);
            Assert.True(code == 0, log + "\n--- worker:\n" + string.Join("\n", workerLog));
            Assert.Contains("cluster: 1 worker node(s) up", log);
            AssertSameSummary(single, clustered);
            using (var db = new Agents.Recording.RunDatabase(Path.Combine(clustered, Agents.Recording.RunDatabase.FileName)))
                Assert.All(db.Answers.FindAll(), a => Assert.Equal(seed, a.Node));
            // The coordinator left when the run ended, and so did the worker.
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await worker.WaitForExitAsync(limit.Token);
            Assert.Contains(workerLog, l => l.Contains("the coordinator at"));
        }
        finally
        {
            if (!worker.HasExited) worker.Kill(entireProcessTree: true);
        }
        // Three agents, three checkpoints shipped (none trained on the worker), each file the coordinator's to the byte.
        var said = string.Join(" ", workerLog); // the console wraps long lines at word boundaries
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Count(said, @"fetched\s+from\s+the\s+coordinator"));
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Count(said, @"loaded\s+from\s+cache"));
        Assert.DoesNotContain("trained in", said);
        var shipped = Directory.GetDirectories(Path.Combine(workerCache, "checkpoints"));
        Assert.Equal(3, shipped.Length);
        foreach (var directory in shipped)
            foreach (var file in Directory.GetFiles(directory))
                Assert.Equal(File.ReadAllBytes(Path.Combine(group.Cache, "checkpoints", Path.GetFileName(directory), Path.GetFileName(file))), File.ReadAllBytes(file));
    }

    [Fact]
    public async Task TheCheckpointServerServesOnlyCompleteCheckpointsOfItsCache()
    {
        using var system = ActorSystem.Create("checkpoints");
        var server = system.ActorOf(CheckpointShipping.Server(group.Cache), CheckpointShipping.ServerName);
        var name = Path.GetFileName(Directory.GetDirectories(Path.Combine(group.Cache, "checkpoints")).First(d => File.Exists(Path.Combine(d, Core.Agents.AgentTraining.ReportFile))));
        var listed = await server.Ask<CheckpointListed>(new ListCheckpoint(name), TimeSpan.FromSeconds(10));
        Assert.Contains(listed.Files, f => f.Name == "model.safetensors" && f.Length == new FileInfo(Path.Combine(group.Cache, "checkpoints", name, f.Name)).Length);
        var first = await server.Ask<CheckpointRead>(new ReadCheckpoint(name, "model.safetensors", 0, 16), TimeSpan.FromSeconds(10));
        Assert.Equal(File.ReadAllBytes(Path.Combine(group.Cache, "checkpoints", name, "model.safetensors"))[..16], first.Bytes);
        // Nothing outside the cache's checkpoints, and nothing that is not a checkpoint's file.
        Assert.Empty((await server.Ask<CheckpointListed>(new ListCheckpoint(".."), TimeSpan.FromSeconds(10))).Files);
        Assert.Empty((await server.Ask<CheckpointListed>(new ListCheckpoint("no-such-checkpoint"), TimeSpan.FromSeconds(10))).Files);
        await Assert.ThrowsAnyAsync<Exception>(() => server.Ask<CheckpointRead>(new ReadCheckpoint(name, "../../x", 0, 16), TimeSpan.FromSeconds(10)));
        await system.Terminate();
    }

    /// <summary>Waits until something accepts connections on the port (a node that has bound it).</summary>
    static async Task Listening(int port, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            try
            {
                using var client = new System.Net.Sockets.TcpClient();
                await client.ConnectAsync(System.Net.IPAddress.Loopback, port);
                return;
            }
            catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < deadline) { await Task.Delay(200); }
        }
    }

    /// <summary>A port that was free a moment ago (the listener that found it is closed).</summary>
    static int FreePort()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    /// <summary>Runs <paramref name="scenario"/> in this process into runs/<paramref name="folder"/>; returns the run folder.</summary>
    string SingleProcessRun(string scenario, string folder)
    {
        var single = Path.Combine(group.Directory, "runs", folder);
        ScenarioRunner.Run(Scenario.Load(scenario), group.Options(single), force: true);
        return single;
    }

    static void AssertSameSummary(string expected, string actual) =>
        Assert.Equal(File.ReadAllText(Path.Combine(expected, RunResults.SummaryFile)), File.ReadAllText(Path.Combine(actual, RunResults.SummaryFile)));

    /// <summary>
    /// Runs <paramref name="scenario"/> in this process, then with <c>--local-nodes 2</c>, SIGKILLing one worker (no chance to leave)
    /// when the coordinator prints a line containing <paramref name="marker"/>: the clustered run must end, see the worker removed,
    /// and write the single-process run's summary. Returns both run folders.
    /// </summary>
    /// <param name="hostOf">Kill the worker that hosts this agent (as its "agent NAME: hosted here" line says); null: the first worker.</param>
    async Task<(string Single, string Clustered)> KilledMidRun(string scenario, string name, string marker, string? hostOf = null)
    {
        int host = 1;
        var run = await KillAt(scenario, name, marker, coordinator => [Workers(coordinator)[host - 1]], line =>
        {
            // Workers are numbered in the order they were started, which is their process ids' order.
            if (hostOf is not null && System.Text.RegularExpressions.Regex.Match(line, $@"node (\d+): agent {hostOf}: hosted here") is { Success: true } hosted)
                host = int.Parse(hosted.Groups[1].Value);
        });
        Assert.True(run.Code == 0, run.Log);
        Assert.Contains("was removed from the cluster", run.Log);
        AssertSameSummary(run.Single, run.Clustered);
        return (run.Single, run.Clustered);
    }

    /// <param name="Workers">The coordinator's worker processes when the kill came.</param>
    sealed record KilledRun(string Single, string Clustered, int Code, string Log, IReadOnlyList<int> Workers);

    /// <summary>
    /// Runs <paramref name="scenario"/> in this process (runs/NAME-1), then with <c>--local-nodes 2</c> (runs/NAME-3), SIGKILLing the
    /// processes <paramref name="victims"/> names, given the coordinator's process id, at the first line the coordinator prints
    /// that contains <paramref name="marker"/>; <paramref name="hear"/> hears every line before.
    /// </summary>
    async Task<KilledRun> KillAt(string scenario, string name, string marker, Func<int, IReadOnlyList<int>> victims, Action<string>? hear = null)
    {
        var single = SingleProcessRun(scenario, name + "-1");
        var clustered = Path.Combine(group.Directory, "runs", name + "-3");
        IReadOnlyList<int> workers = [];
        int killed = 0;
        var (code, log) = await RunOnLocalNodes(scenario, clustered, (line, coordinator) =>
        {
            hear?.Invoke(line);
            if (!line.Contains(marker) || Interlocked.Exchange(ref killed, 1) != 0) return;
            workers = Workers(coordinator);
            foreach (var victim in victims(coordinator)) System.Diagnostics.Process.GetProcessById(victim).Kill();
        });
        Assert.True(killed == 1, $"the run never printed '{marker}':\n{log}");
        return new KilledRun(single, clustered, code, log, workers);
    }

    /// <summary>
    /// <c>evolution run --local-nodes 2</c> on <paramref name="scenario"/> as a process (the coordinator; it starts the workers);
    /// <paramref name="onLine"/> hears each line it prints, with its process id. Its exit code and output; fails after 4 minutes.
    /// </summary>
    /// <param name="nodes">How the run finds its workers (default: <c>--local-nodes 2</c>).</param>
    async Task<(int Code, string Log)> RunOnLocalNodes(string scenario, string output, Action<string, int>? onLine = null, string[]? nodes = null)
    {
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "evolution.dll"), "run", scenario, "--out", output,
            "--cache", group.Cache, "--device", "cpu", .. nodes ?? ["--local-nodes", "2"]]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        var log = new System.Collections.Concurrent.ConcurrentQueue<string>();
        void Heard(object _, System.Diagnostics.DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            log.Enqueue(e.Data);
            onLine?.Invoke(e.Data, process.Id);
        }
        process.ErrorDataReceived += Heard;
        process.OutputDataReceived += Heard;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(4));
        try { await process.WaitForExitAsync(limit.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); Assert.Fail("the clustered run did not end within 4 minutes:\n" + string.Join("\n", log)); }
        process.WaitForExit(); // the output's last lines
        return (process.ExitCode, string.Join("\n", log));
    }

    /// <summary>The worker processes a coordinator started (its children), oldest first.</summary>
    static IReadOnlyList<int> Workers(int coordinator) =>
        [.. Directory.GetDirectories($"/proc/{coordinator}/task").SelectMany(t => File.ReadAllText(Path.Combine(t, "children")).Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(int.Parse).Order()];

    /// <summary>Runs <c>evolution node</c> on a scenario of the tiny group with the given arguments; its exit code, seconds and output.</summary>
    async Task<(int Code, double Seconds, string Output)> Node(params string[] arguments)
    {
        var scenario = group.WriteScenario("node-drill", "  - quiz: {facts: 2}\n");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [Path.Combine(AppContext.BaseDirectory, "evolution.dll"), "node", scenario,
            "--out", Path.Combine(group.Directory, "runs", "node-drill"), "--cache", group.Cache, .. arguments]) { RedirectStandardError = true, RedirectStandardOutput = true };
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var process = System.Diagnostics.Process.Start(start)!;
        var output = Task.WhenAll(process.StandardError.ReadToEndAsync(), process.StandardOutput.ReadToEndAsync());
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try { await process.WaitForExitAsync(limit.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); Assert.Fail("the node hung: still running after a minute"); }
        return (process.ExitCode, clock.Elapsed.TotalSeconds, string.Concat(await output));
    }

    [Fact]
    public async Task ANodeWhoseSeedsDoNotAnswerOrWhosePortIsTakenStopsWithinSecondsWithOneLineNamingTheProblem()
    {
        int silent = FreePort(); // nobody answers there
        var (code, seconds, output) = await Node("--seeds", $"akka.tcp://evolution@127.0.0.1:{silent}");
        Assert.Equal(1, code);
        Assert.InRange(seconds, 0, ClusterNode.JoinTimeout.TotalSeconds + 15);
        Assert.EndsWith($"error: could not join the cluster at akka.tcp://evolution@127.0.0.1:{silent} within {ClusterNode.JoinTimeout.TotalSeconds:F0} s: no seed node answered (is the coordinator running, and are host and port right?)", output.TrimEnd());
        Assert.DoesNotContain("   at ", output);

        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        (code, seconds, output) = await Node("--seeds", $"akka.tcp://evolution@127.0.0.1:{silent}", "--port", port.ToString());
        Assert.Equal(2, code);
        Assert.Equal($"error: field '--port': port {port} on 127.0.0.1 is in use by another process: choose another --port (0: any free one)", output.Trim());
    }

    [Fact]
    public async Task ANodeBuiltFromOtherCodeIsRefusedAtJoinWithOneLineNamingBothProtocols()
    {
        using var coordinator = ClusterNode.Start("127.0.0.1", 0, [], ["coordinator"]);
        var first = Akka.Cluster.Cluster.Get(coordinator);
        await first.JoinAsync(first.SelfAddress);
        var seeds = new[] { first.SelfAddress.ToString() };
        using var worker = ClusterNode.Start("127.0.0.1", 0, seeds, [ClusterNode.WorkerRole], protocol: "0123456789ab");
        var problem = ClusterNode.WaitUntilUp(worker, seeds);
        Assert.Equal($"the node at {first.SelfAddress} speaks protocol {ClusterNode.Protocol}, this one at {Akka.Cluster.Cluster.Get(worker).SelfAddress} speaks 0123456789ab: build every node from the same code", problem);
        await worker.Terminate();
        // A node of the same code joins without complaint.
        using var same = ClusterNode.Start("127.0.0.1", 0, seeds, [ClusterNode.WorkerRole]);
        Assert.Null(ClusterNode.WaitUntilUp(same, seeds));
        await Task.WhenAll(same.Terminate(), coordinator.Terminate());
    }

    /// <summary>The coordinator's port, from its "coordinator at akka.tcp://evolution@HOST:PORT" progress line.</summary>
    static string ClusterNodePort(string log) =>
        System.Text.RegularExpressions.Regex.Match(log, @"coordinator at akka\.tcp://evolution@[^:]+:(\d+)").Groups[1].Value is { Length: > 0 } port ? port
            : throw new Xunit.Sdk.XunitException("no coordinator address in the log:\n" + log);

    static void AssertSameAnswers(IReadOnlyList<AgentAnswer> expected, IReadOnlyList<AgentAnswer> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        foreach (var (e, a) in expected.Zip(actual))
        {
            Assert.Equal((e.Answer, e.OwnAnswer, e.ReadPeers), (a.Answer, a.OwnAnswer, a.ReadPeers));
            Assert.Equal(e.Probability, a.Probability, 6);
            Assert.Equal(e.PeerTrace?.LogitDifferenceWithPeers ?? 0, a.PeerTrace?.LogitDifferenceWithPeers ?? 0, 5);
        }
    }

    static async Task Until(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for: {what}");
            await Task.Delay(100);
        }
    }

    sealed class NullSink : IEventSink
    {
        public void Record(object e) { }
        public Task Flush() => Task.CompletedTask;
        public Agents.Recording.AnswerEvent? Recorded(string id) => null;
        public bool StepDone(int step) => false;
        public IReadOnlyList<Agents.Recording.AnswerEvent> AnswersOf(int step) => [];
    }
}
