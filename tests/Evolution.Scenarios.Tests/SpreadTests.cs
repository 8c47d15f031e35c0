using Evolution.Agents.Population;
using Evolution.Agents.Protocols;
using Evolution.Agents.Recording;
using Evolution.Core.Agents;
using Evolution.Scenarios.Population;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary>
/// The spread protocol on a small population over two tiny bases (agents with memory, ROME edits and no channel):
/// seeding teaches what it says, only agents with a channel commit and only when their peers changed their minds, batched
/// answering equals answering one agent at a time, and a spread killed between steps resumes to the same rounds.
/// </summary>
[Collection(TinyGroupCollection.Name)]
public class SpreadTests(TinyGroup group)
{
    const int Agents = 36;

    sealed class ListLog : ISpreadLog
    {
        readonly List<SpreadRound> written = [];
        public IReadOnlyList<SpreadRound> Rounds() => [.. written];
        public void Write(SpreadRound round) => written.Add(round);
    }

    /// <summary>The bases, loaded once: they hold only what is the same for every population (weights, edits computed on them).</summary>
    static IReadOnlyList<PopulationBase>? bases;
    static readonly Lock basesLock = new();

    AgentPopulation Build(PopulationMemory? memory = null)
    {
        lock (basesLock)
        {
            var profile = AgentProfile.Load(group.ProfilePath);
            bases ??= new[] { 1, 2 }.Select(seed => new PopulationBase($"tiny-{seed}",
                AgentTraining.TrainOrLoad(TinyGroup.TinyWorld, profile with { Training = profile.Training with { Seed = seed } }, File.ReadAllText(group.ProfilePath), group.Cache, CPU))).ToList();
        }
        UpdateChannel[] channels = [UpdateChannel.Rag, UpdateChannel.Rome, UpdateChannel.None];
        return new AgentPopulation(bases, Enumerable.Range(0, Agents).Select(i => new PopulationMember(i % 2, i % 4 == 0 ? 1.0 : 0.6, channels[i % 3])).ToList(), memory: memory);
    }

    static SpreadSettings Settings(AgentPopulation population)
    {
        var world = population.Bases[0].World;
        var facts = world.Changes.Where(c => c.Epoch == 1).Take(2).Select(c =>
        {
            var type = Core.Worlds.RelationCatalogue.Get(c.Relation).ObjectType;
            var rumour = world.CandidateAnswers(type).First(a => a.Trim() != world[c.NewObject].Name && a.Trim() != world[c.OldObject].Name);
            return new SpreadNews(new FactRef(c.Subject, c.Relation), " " + world[c.NewObject].Name, " " + world[c.OldObject].Name, rumour);
        }).ToList();
        return new SpreadSettings(facts, Seeded: 0.3, Rumoured: 0.1, Steps: 3, Reads: 3, Seed: 9);
    }

    static SpreadPlan Plan(AgentPopulation population, SpreadSettings settings) =>
        new(population.Bases[0].World, population.Members, SocialNetwork.WattsStrogatz(Agents, 4, 0.2, new Random(3)), settings);

    [Fact]
    public void SeedingTeachesTheNewsAndOnlyAgentsWithAChannelCommitWhenTheirPeersChangedTheirMinds()
    {
        var population = Build();
        var settings = Settings(population);
        var spread = new Spread(population, Plan(population, settings));
        var rounds = spread.Run(new ListLog());
        Assert.Equal(settings.Steps + 1, rounds.Count);

        var order = spread.Plan.SeedOrder();
        int told = (int)Math.Round(0.3 * order.Count);
        for (int f = 0; f < settings.Facts.Count; f++)
        {
            var candidates = spread.Plan.Questions[f].Candidates.Select(c => c.Trim()).ToList();
            int truth = candidates.IndexOf(settings.Facts[f].True.Trim()), old = candidates.IndexOf(settings.Facts[f].Old.Trim());
            var step0 = rounds[0].Facts[f];
            Assert.All(order.Take(told), a => Assert.Equal(truth, step0.Committed[a]));
            // Told agents state the news (every ROME edit takes; one of the tiny bases often ignores a retrieved statement); the untold hold the old object.
            Assert.All(order.Take(told).Where(a => population.Members[a].Channel == UpdateChannel.Rome), a => Assert.Equal(truth, step0.Stated[a]));
            Assert.True(order.Take(told).Count(a => step0.Stated[a] == truth) >= 0.5 * told, $"fact {f}: {order.Take(told).Count(a => step0.Stated[a] == truth)} of {told} told agents state the news: " +
                string.Join(", ", order.Take(told).Select(a => $"{a} {population.Members[a].Channel} base {population.Members[a].Base} says {candidates[step0.Stated[a]]} ({candidates[truth]})")));
            var untold = Enumerable.Range(0, Agents).Where(a => step0.Committed[a] < 0).ToList();
            Assert.True(untold.Count(a => step0.Stated[a] == old) >= 0.7 * untold.Count, $"fact {f}: {untold.Count(a => step0.Stated[a] == old)} of {untold.Count} untold agents state the old object");
            Assert.DoesNotContain(untold, a => step0.Stated[a] == truth);
            Assert.All(Enumerable.Range(0, Agents), a => Assert.False(step0.ReadPeers[a]));

            foreach (var round in rounds.Skip(1))
            {
                var r = round.Facts[f];
                for (int a = 0; a < Agents; a++)
                {
                    if (population.Members[a].Channel == UpdateChannel.None) Assert.Equal(-1, r.Committed[a]);
                    if (r.Committed[a] >= 0) Assert.True(r.ReadPeers[a] && r.Own[a] != r.Stated[a] && r.Committed[a] == r.Stated[a], $"step {round.Step}, agent {a}: committed without being moved by its peers");
                    if (population.Members[a].KeepOwnAbove >= 1.0) Assert.True(r.ReadPeers[a], $"agent {a} never keeps its own answer, so it always reads its peers");
                }
            }
        }
        Assert.Contains(rounds.Skip(1), r => r.Facts.Any(f => f.ReadPeers.Any(x => x) && f.Stated.Zip(f.Own).Any(p => p.First != p.Second)));

        // The metrics read the same rounds: step t's share of the news is the share of agents stating it, pooled over facts.
        var channels = new SpreadGrouping("channel", population.Members.Select(m => UpdatePolicy.NameOf(m.Channel)).ToList());
        var summary = SpreadLogs.Summarise(spread.Plan, rounds, [channels]);
        Assert.Equal(settings.Steps + 1, summary.Adoption.True.Count);
        for (int step = 0; step <= settings.Steps; step++)
        {
            double expected = settings.Facts.Select((fact, f) => rounds[step].Facts[f].Stated.Count(s => spread.Plan.Questions[f].Candidates[s] == fact.True) / (double)Agents).Average();
            Assert.Equal(expected, summary.Adoption.True[step], 3);
        }
        Assert.Equal(["none", "rag", "rome"], summary.Groupings.Single().Groups.Select(g => g.Group));
    }

    [Fact]
    public void EveryAnswerReadWithNeighboursWhoSaidOtherwiseHasItsMechanismRecordAndRecordingChangesNoAnswer()
    {
        var population = Build();
        var settings = Settings(population);
        var spread = new Spread(population, Plan(population, settings));
        var rounds = spread.Run(new ListLog());
        Assert.Empty(rounds[0].Traces ?? []);
        int records = 0;
        for (int step = 1; step < rounds.Count; step++)
            for (int f = 0; f < settings.Facts.Count; f++)
            {
                var (round, candidates) = (rounds[step].Facts[f], spread.Plan.Questions[f].Candidates);
                // The answers that must carry a record: read with peers, one of whom stated another object than the agent's own,
                // whose first token differs from the own answer's (the record splits a first-token logit difference).
                var expected = new Dictionary<int, string>();
                for (int agent = 0; agent < Agents; agent++)
                {
                    if (!round.ReadPeers[agent]) continue;
                    var stated = spread.Plan.Read(step, agent, f).Select(n => candidates[rounds[step - 1].Facts[f].Stated[n]]).ToList();
                    var peersAnswer = Evolution.Agents.PeerRecord.PeersAnswer(candidates[round.Own[agent]], stated);
                    var tokenizer = population.Bases[population.Members[agent].Base].Tokenizer;
                    if (peersAnswer is not null && tokenizer.Encode(" " + peersAnswer)[0] != tokenizer.Encode(candidates[round.Own[agent]])[0]) expected[agent] = peersAnswer;
                }
                var traced = (rounds[step].Traces ?? []).Where(t => t.Fact == f).SelectMany(t => t.Agents.Select(a => (Agent: a, t.Trace))).ToList();
                Assert.Equal(expected.Keys.Order(), traced.Select(t => t.Agent).Order());
                foreach (var (agent, trace) in traced)
                {
                    Assert.Equal(expected[agent], trace.PeersAnswer);
                    // The record is this agent's: its ratio p_own / (p_own + p_peers) falls below a half exactly when it stated the peers' answer.
                    bool tookPeers = candidates[round.Stated[agent]].TrimStart() == trace.PeersAnswer;
                    Assert.True(tookPeers == trace.MemorizationRatio < 0.5, $"step {step}, fact {f}, agent {agent}: stated {candidates[round.Stated[agent]]}, ratio {trace.MemorizationRatio:F3} against {trace.PeersAnswer}");
                }
                records += traced.Count;
            }
        Assert.True(records >= 10, $"only {records} answers were read with neighbours who said otherwise");
        Assert.True(population.Analyzed < records, $"{population.Analyzed} analyses for {records} records: agents that read the same text with the same weights share one");

        var unrecorded = Build();
        unrecorded.RecordsPeerMechanism = false;
        var plain = new Spread(unrecorded, Plan(unrecorded, settings)).Run(new ListLog());
        Assert.All(plain, r => Assert.Empty(r.Traces ?? []));
        for (int step = 0; step < rounds.Count; step++)
            for (int f = 0; f < settings.Facts.Count; f++)
                Assert.Equal(rounds[step].Facts[f].Stated, plain[step].Facts[f].Stated);
    }

    [Fact]
    public void ASpreadWhoseBasesAnswerThroughSerialisedMessagesInManyPartsGivesTheSameRoundsAndRecordsToTheBit()
    {
        var inProcess = new Spread(Build(), Plan(Build(), Settings(Build()))).Run(new ListLog());
        // Every message goes through the wire serializer, as between nodes; each base's passes are dealt to 3 slots.
        var config = Akka.Configuration.ConfigurationFactory.ParseString("akka.actor.serialize-messages = on")
            .WithFallback(Evolution.Agents.Cluster.ClusterNode.Config("127.0.0.1", 0, []));
        using var system = Akka.Actor.ActorSystem.Create("spread-test", config);
        var members = Build().Members;
        var answers = bases!.Select(b => b.Answers).ToList();
        var actors = bases!.Select((_, i) => system.ActorOf(BaseActor.Props(b => answers[b]), $"base-{i}")).ToList();
        var population = new AgentPopulation(bases!, members, BaseActors.Local(answers, actors, TimeSpan.FromMinutes(5), slots: 3));
        var throughActors = new Spread(population, Plan(population, Settings(population))).Run(new ListLog());
        Assert.True(population.Scored > 0);
        Assert.Contains(throughActors, r => r.Traces is { Count: > 0 });
        for (int s = 0; s < inProcess.Count; s++)
        {
            for (int f = 0; f < inProcess[s].Facts.Count; f++)
            {
                Assert.Equal(inProcess[s].Facts[f].Stated, throughActors[s].Facts[f].Stated);
                Assert.Equal(inProcess[s].Facts[f].Committed, throughActors[s].Facts[f].Committed);
            }
            // The records to the bit, but for how long they took.
            Assert.Equal(ClusterTests.Json(inProcess[s].Traces?.Select(t => t with { Trace = t.Trace with { Seconds = 0 } })),
                ClusterTests.Json(throughActors[s].Traces?.Select(t => t with { Trace = t.Trace with { Seconds = 0 } })));
        }
        system.Terminate().Wait(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public void BatchedAnswersEqualAnsweringOneAgentAtATime()
    {
        var population = Build();
        var settings = Settings(population);
        var spread = new Spread(population, Plan(population, settings));
        for (int a = 0; a < Agents; a += 2) population.Commit(a, settings.Facts[0].Fact, settings.Facts[0].True);
        var asks = Enumerable.Range(0, Agents).SelectMany(a => new[]
        {
            new PopulationAsk(a, spread.Plan.Questions[0], []),
            new PopulationAsk(a, spread.Plan.Questions[0], [population.Statement(settings.Facts[0].Fact, settings.Facts[0].Rumour!), population.Statement(settings.Facts[0].Fact, settings.Facts[0].True)]),
            new PopulationAsk(a, spread.Plan.Questions[1], [population.Statement(settings.Facts[1].Fact, settings.Facts[1].Old)]),
        }).ToList();
        long before = population.Scored;
        var together = population.Answer(asks);
        long shared = population.Scored - before;
        for (int i = 0; i < asks.Count; i++)
        {
            var alone = population.Answer([asks[i]])[0];
            Assert.Equal(alone.Own, together[i].Own);
            Assert.Equal(alone.Final, together[i].Final);
            Assert.Equal(alone.ReadPeers, together[i].ReadPeers);
            Assert.True(Math.Abs(alone.FinalProbability - together[i].FinalProbability) < 1e-5, $"ask {i}: {together[i].FinalProbability} together, {alone.FinalProbability} alone");
        }

        // Without sharing (the bench's one-at-a-time baseline), every ask's inputs are scored as its own, to the same answers.
        population.SharesInputs = false;
        before = population.Scored;
        var unshared = population.Answer(asks);
        Assert.Equal(asks.Count + unshared.Count(a => a.ReadPeers), population.Scored - before);
        Assert.True(shared < population.Scored - before, $"{shared} inputs scored with sharing, {population.Scored - before} without");
        Assert.Equal(together.Select(a => (a.Own, a.Final, a.ReadPeers)), unshared.Select(a => (a.Own, a.Final, a.ReadPeers)));
    }

    [Fact]
    public void ARagAgentRetrievesOnlyItsOwnStatementsAboutTheQuestionsSubjectAndItsLatestCommitWins()
    {
        var population = Build();
        var settings = Settings(population);
        var plan = Plan(population, settings);
        var (fact, question) = (settings.Facts[0].Fact, plan.Questions[0]);
        var world = population.Bases[0].World;
        var elsewhere = world.Changes.Select(c => new FactRef(c.Subject, c.Relation)).First(f => f.Subject != fact.Subject);
        var elsewhereQuestion = new Evolution.Agents.Question(elsewhere.Subject, elsewhere.Relation, "?", plan.Questions[0].Candidates);
        // Agents 0 and 6 keep memories on base 0, agent 3 on base 1; agent 1 edits its weights.
        Assert.True(population.Commit(0, fact, settings.Facts[0].Old));
        Assert.False(population.Commit(0, fact, settings.Facts[0].Old));
        Assert.True(population.Commit(0, fact, settings.Facts[0].True));
        Assert.True(population.Commit(0, elsewhere, settings.Facts[0].Rumour!));
        Assert.True(population.Commit(3, fact, settings.Facts[0].Rumour!));

        var retrieved = population.Retrieve([new(0, question, []), new(6, question, []), new(3, question, []), new(1, question, []), new(0, elsewhereQuestion, [])]);
        Assert.Equal([population.Statement(fact, settings.Facts[0].True)], retrieved[0]);
        Assert.Empty(retrieved[1]);
        Assert.Equal([population.Statement(fact, settings.Facts[0].Rumour!)], retrieved[2]);
        Assert.Empty(retrieved[3]);
        Assert.Equal([population.Statement(elsewhere, settings.Facts[0].Rumour!)], retrieved[4]);
        Assert.Equal(settings.Facts[0].True, population.Committed(0, fact));
        Assert.Null(population.Committed(6, fact));
        long statements = new[] { (fact, settings.Facts[0].True), (elsewhere, settings.Facts[0].Rumour!), (fact, settings.Facts[0].Rumour!) }
            .Sum(s => 2L * population.Statement(s.Item1, s.Item2).Length);
        Assert.Equal(statements, population.OwnedBytes - population.Bases.Sum(b => b.DeltaBytes));
    }

    /// <summary>Each RAG agent's latest commit per fact in <paramref name="rounds"/>, as agent/subject/relation = object.</summary>
    static List<string> LatestMemories(AgentPopulation population, SpreadPlan plan, IReadOnlyList<SpreadRound> rounds)
    {
        var latest = new Dictionary<string, string>();
        foreach (var round in rounds)
            for (int f = 0; f < round.Facts.Count; f++)
                for (int agent = 0; agent < Agents; agent++)
                    if (round.Facts[f].Committed[agent] >= 0 && population.Members[agent].Channel == UpdateChannel.Rag)
                        latest[MemoryStatement.IdOf(agent, plan.Settings.Facts[f].Fact)] = plan.Questions[f].Candidates[round.Facts[f].Committed[agent]];
        return [.. latest.Select(p => $"{p.Key} = {p.Value}").Order(StringComparer.Ordinal)];
    }

    /// <summary>The documents of a population memory's file, as agent/subject/relation = object, each checked to be tagged by its agent.</summary>
    public static List<string> StoredMemories(string path)
    {
        using var db = new LiteDB.LiteDatabase(new LiteDB.ConnectionString { Filename = path, Connection = LiteDB.ConnectionType.Direct });
        Assert.Equal([PopulationMemory.CollectionName], db.GetCollectionNames());
        var documents = db.GetCollection(PopulationMemory.CollectionName).FindAll().ToList();
        Assert.All(documents, d => Assert.StartsWith($"{d["Agent"].AsInt32}/{d["Subject"].AsInt32}/{d["Relation"].AsString}", d["_id"].AsString));
        // The retrieval filters on an index of the agent.
        Assert.Contains(db.GetCollection("$indexes").FindAll(), i => i["collection"] == PopulationMemory.CollectionName && i["name"] == "Agent");
        return [.. documents.Select(d => $"{d["_id"].AsString} = {d["Object"].AsString}").Order(StringComparer.Ordinal)];
    }

    /// <summary>Puts into a population memory's file a statement of agent 0 that no round committed, as a kill mid-write could leave.</summary>
    internal static void WriteStaleMemory(string path)
    {
        using var db = new LiteDB.LiteDatabase(new LiteDB.ConnectionString { Filename = path, Connection = LiteDB.ConnectionType.Direct });
        db.GetCollection(PopulationMemory.CollectionName).Upsert(new LiteDB.BsonDocument
        {
            ["_id"] = "0/0/stale", ["Agent"] = 0, ["Subject"] = 0, ["Relation"] = "stale", ["Object"] = " nobody said so", ["Text"] = "a write no recorded round made",
        });
    }

    [Fact]
    public void ThePopulationsMemoriesAreOneLiteDbCollectionHoldingEachRagAgentsLatestCommitPerFactTaggedByAgent()
    {
        var path = Path.Combine(group.Directory, $"memory-{Guid.NewGuid():N}", PopulationMemory.FileName);
        IReadOnlyList<SpreadRound> rounds;
        AgentPopulation population;
        using (var memory = PopulationMemory.Open(path))
        {
            population = Build(memory);
            rounds = new Spread(population, Plan(population, Settings(population))).Run(new ListLog());
        }
        var stored = StoredMemories(path);
        Assert.Equal(LatestMemories(population, Plan(population, Settings(population)), rounds), stored);
        Assert.True(stored.Select(s => s.Split('/')[0]).Distinct().Count() >= 2, "at least two agents keep memories");
        Assert.All(stored, s => Assert.Equal(UpdateChannel.Rag, population.Members[int.Parse(s.Split('/')[0])].Channel));
    }

    /// <summary>A log whose write after <paramref name="killAfter"/> rounds fails once, as a kill between steps would.</summary>
    sealed class KilledLog(ISpreadLog inner, int killAfter) : ISpreadLog
    {
        bool killed;
        public IReadOnlyList<SpreadRound> Rounds() => inner.Rounds();

        public void Write(SpreadRound round)
        {
            if (!killed && inner.Rounds().Count == killAfter)
            {
                killed = true;
                throw new OperationCanceledException("killed");
            }
            inner.Write(round);
        }
    }

    [Fact]
    public void ASpreadKilledBetweenStepsResumesFromTheRunDatabaseToTheSameRounds()
    {
        var uninterrupted = new Spread(Build(), Plan(Build(), Settings(Build()))).Run(new ListLog());

        var path = Path.Combine(group.Directory, $"spread-{Guid.NewGuid():N}.db");
        var memoryPath = Path.Combine(group.Directory, $"memory-{Guid.NewGuid():N}", PopulationMemory.FileName);
        using (var database = new RunDatabase(path))
        using (var memory = PopulationMemory.Open(memoryPath))
        {
            var first = Build(memory);
            // Killed as round 2 is written: its commits are in the memory store, the round is not in the run database; and then some.
            Assert.Throws<OperationCanceledException>(() => new Spread(first, Plan(first, Settings(first))).Run(new KilledLog(new SpreadLog(database, 3), killAfter: 2)));
        }
        WriteStaleMemory(memoryPath);
        IReadOnlyList<SpreadRound> rounds;
        List<string> resumedMemories;
        using (var database = new RunDatabase(path)) // a new process: nothing committed but what the database holds
        {
            Assert.Equal(2, new SpreadLog(database, 3).Rounds().Count);
            Assert.Empty(new SpreadLog(database, 4).Rounds());
            using (var memory = PopulationMemory.Open(memoryPath))
            {
                var resumed = Build(memory);
                rounds = new Spread(resumed, Plan(resumed, Settings(resumed))).Run(new SpreadLog(database, 3));
            }
            resumedMemories = StoredMemories(memoryPath);
        }
        var whole = Build();
        Assert.Equal(LatestMemories(whole, Plan(whole, Settings(whole)), uninterrupted), resumedMemories);

        Assert.Equal(uninterrupted.Count, rounds.Count);
        for (int s = 0; s < rounds.Count; s++)
            for (int f = 0; f < rounds[s].Facts.Count; f++)
            {
                Assert.Equal(uninterrupted[s].Facts[f].Stated, rounds[s].Facts[f].Stated);
                Assert.Equal(uninterrupted[s].Facts[f].Own, rounds[s].Facts[f].Own);
                Assert.Equal(uninterrupted[s].Facts[f].ReadPeers, rounds[s].Facts[f].ReadPeers);
                Assert.Equal(uninterrupted[s].Facts[f].Committed, rounds[s].Facts[f].Committed);
            }
    }
}
