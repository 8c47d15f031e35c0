using Akka.Actor;
using Akka.TestKit.Xunit2;
using Evolution.Agents;
using Evolution.Agents.Protocols;
using Evolution.Agents.Recording;
using Evolution.Core.Agents;

namespace Evolution.Scenarios.Tests;

[Collection(TinyGroupCollection.Name)]
public class AgentTests(TinyGroup group)
{
    /// <summary>Questions about facts the agent gets right alone, each with k confederates who all say one wrong object.</summary>
    static List<AskItem> Confederates(ProtocolContext context, AgentRuntime agent, int k)
    {
        var facts = context.World.FactsAt(0).Select(f => new FactRef(f.Subject, f.Relation)).ToList();
        var alone = agent.Answer(facts.Select(f => new AskItem(context.QuestionFor(f), [])).ToList());
        return facts.Where((f, i) => alone[i].Answer == context.Truth(f)).Select(f =>
        {
            var wrong = context.QuestionFor(f).Candidates.First(c => c != context.Truth(f));
            return new AskItem(context.QuestionFor(f), Enumerable.Range(0, k).Select(c => new PeerStatement($"c{c}", wrong, context.Sentence(f, wrong, $"c{c}", 0))).ToList());
        }).ToList();
    }

    static ProtocolContext Context(IAgentGroup agents) => new(agents, new NullSink(), TinyGroup.World(), 5, new Dictionary<string, AgentProfile>());

    [Fact]
    public void AfterRetrievedStatementsAStatementPromptIsAskedAsTheRelationsTrainedQuestion()
    {
        using var reader = group.Runtime("reader", 1);
        var world = reader.World;
        var relation = Core.Worlds.RelationCatalogue.Get("born_in");
        var fact = world.FactsAt(0).First(f => f.Relation == relation.Name);
        string name = world[fact.Subject].Name, news = $"{name} was born in {world[fact.Object].Name}.";
        var statement = new Question(fact.Subject, relation.Name, world.CanonicalStatement(relation).Prompt(name), world.CandidateAnswers(relation.ObjectType));
        var question = statement with { Prompt = relation.Templates.Last(t => t.Kind == Core.Worlds.TemplateKind.Question).Prompt(name) };

        Assert.Equal($"Context: {news} {world.CanonicalQuestion(relation).Prompt(name)}", reader.PromptFor(statement, [news], []));
        Assert.Equal($"Context: {news} {question.Prompt}", reader.PromptFor(question, [news], [])); // a question is asked as it is
        Assert.Equal($"Context: {news} {statement.Prompt}", reader.PromptFor(statement, [], [news])); // peers alone: as asked
        Assert.Equal(statement.Prompt, reader.PromptFor(statement, [], []));

        var literal = new AgentRuntime("literal", new AgentRuntime.Parts(reader.Model, reader.Tokenizer, world,
            reader.Profile with { Update = reader.Profile.Update with { Query = RetrievalQuery.AsAsked } }), null); // shares the model: not disposed
        Assert.Equal($"Context: {news} {statement.Prompt}", literal.PromptFor(statement, [news], []));
    }

    [Fact]
    public void ASubjectScopedMemoryRetrievesOnlyStatementsAboutTheQuestionsSubject()
    {
        using var reader = group.Runtime("scoped", 1);
        var world = reader.World;
        var directory = Directory.CreateTempSubdirectory("evolution-scope").FullName;
        try
        {
            using var memory = RetrievalMemory.Open(Path.Combine(directory, "memory.db"), new AgentRuntime.Parts(reader.Model, reader.Tokenizer, world, reader.Profile));
            var facts = world.FactsAt(0).Where(f => f.Relation == "born_in").Take(4).ToList();
            foreach (var f in facts)
            {
                var relation = Core.Worlds.RelationCatalogue.Get(f.Relation);
                var statement = world.CanonicalStatement(relation).Render(world[f.Subject].Name, world[f.Object].Name);
                memory.Add(new NewsItem(f.Subject, f.Relation, " " + world[f.Object].Name, 1, statement, world.CanonicalStatement(relation).Prompt(world[f.Subject].Name)));
            }
            var asked = facts[0];
            var question = new Question(asked.Subject, asked.Relation, world.CanonicalStatement(Core.Worlds.RelationCatalogue.Get(asked.Relation)).Prompt(world[asked.Subject].Name), []);
            var scoped = memory.Retrieve(question, 3, RetrievalScope.Subject);
            Assert.Single(scoped);
            Assert.Contains(world[asked.Subject].Name, scoped[0]);
            Assert.Equal(3, memory.Retrieve(question, 3, RetrievalScope.All).Count); // the same relation's other statements come in too
        }
        finally { Directory.Delete(directory, recursive: true); }
    }

    [Fact]
    public void AnAgentThatKeepsItsOwnAnswerIgnoresConfederatesAndAnEasyGoingOneIsSwayed()
    {
        using var stubborn = group.Runtime("stubborn", 1, new AgentTraits { KeepOwnAbove = 0 });
        using var easy = group.Runtime("easy", 1, new AgentTraits { KeepOwnAbove = 1 });
        var context = Context(new DirectAgentGroup([stubborn, easy]));
        var items = Confederates(context, easy, 3);
        Assert.True(items.Count >= 10, $"the tiny agent knows too few facts ({items.Count})");

        var kept = stubborn.Answer(items);
        Assert.All(kept, a => Assert.False(a.ReadPeers));
        Assert.All(kept, a => Assert.Equal(a.OwnAnswer, a.Answer));

        var swayed = easy.Answer(items);
        Assert.All(swayed, a => Assert.True(a.ReadPeers));
        // Three confederates move probability to their answer: on average the confederates' object gains.
        double gain = items.Select((item, i) => swayed[i].Distribution[item.Peers[0].Answer] - kept[i].Distribution[item.Peers[0].Answer]).Average();
        Assert.True(gain > 0.05, $"three confederates should raise the probability of their answer, gained {gain:F3}");
    }

    [Fact]
    public void NewsLearnedByFineTuningChangesTheLearnersAnswersAndNotAnotherAgents()
    {
        using var learner = group.Runtime("learner", 1, channel: UpdateChannel.FtL);
        using var bystander = group.Runtime("bystander", 1);
        var context = Context(new DirectAgentGroup([learner, bystander]));
        context.Epoch = 1;
        var changed = context.World.Changes.Where(c => c.Epoch == 1).Select(c => new FactRef(c.Subject, c.Relation)).ToList();
        var questions = changed.Select(f => new AskItem(context.QuestionFor(f), [])).ToList();
        var truths = changed.Select(context.Truth).ToList();
        int NewObjects(IReadOnlyList<AgentAnswer> answers) => answers.Where((a, i) => a.Answer == truths[i]).Count();
        var before = bystander.Answer(questions).Select(a => a.Answer).ToList();
        Assert.True(NewObjects(learner.Answer(questions)) <= 1, "before the news the agents hold the old facts");

        var outcome = learner.Learn(changed.Select(f => context.News(f, context.Truth(f))).ToList());
        Assert.True(outcome.Applied);
        Assert.True(outcome.BytesStored > 0);
        var after = learner.Answer(questions);
        Assert.True(NewObjects(after) >= changed.Count - 1,
            $"the learner should give the new objects: {string.Join(",", after.Select(a => a.Answer))} vs {string.Join(",", truths)}");
        Assert.Equal(before, bystander.Answer(questions).Select(a => a.Answer).ToList());
    }
}

[Collection(TinyGroupCollection.Name)]
public class AgentActorTests(TinyGroup group) : TestKit
{
    [Fact]
    public void AnAgentThatThrowsIsRestartedWithItsLearnedNewsAndTheFailedRequestIsAnswered()
    {
        var world = TinyGroup.World();
        var home = new AgentHome("ada", () => group.Runtime("ada", 1, channel: UpdateChannel.FtL));
        var agent = Sys.ActorOf(AgentActor.Props(home), "ada");
        var change = world.Changes.First(c => c.Epoch == 1);
        var context = new ProtocolContext(new DirectAgentGroup([]), new NullSink(), world, 5, new Dictionary<string, AgentProfile>()) { Epoch = 1 };
        var fact = new FactRef(change.Subject, change.Relation);
        var question = new AskItem(context.QuestionFor(fact), []);

        agent.Tell(new LearnNews("learn", [context.News(fact, context.Truth(fact))]));
        ExpectMsg<NewsLearned>(TimeSpan.FromMinutes(1));
        agent.Tell(new AskAgent("before", [question]));
        var before = ExpectMsg<AgentAnswered>(TimeSpan.FromMinutes(1)).Answers[0];
        Assert.Equal(context.Truth(fact), before.Answer);

        agent.Tell(new FailNextMessage("drill"));
        ExpectMsg<FaultArmed>();
        agent.Tell(new AskAgent("after", [question]));
        var reply = ExpectMsg<AgentAnswered>(TimeSpan.FromMinutes(1));
        Assert.Equal("after", reply.Key);
        Assert.Equal(1, home.Restarts);
        Assert.Equal(before.Answer, reply.Answers[0].Answer);
        Assert.Equal(before.Probability, reply.Answers[0].Probability, 6);
    }
}

/// <summary>Circuit similarity across agents, through the convergence protocol as a run calls it.</summary>
[Collection(TinyGroupCollection.Name)]
public class CircuitSimilarityTests(TinyGroup group)
{
    [Fact]
    public async Task TwoCopiesOfOneAgentShareEveryCircuitAndAgentsOfOtherSeedsShareLess()
    {
        using var ada = group.Runtime("ada", 1);
        using var twin = group.Runtime("twin", 1);
        using var bo = group.Runtime("bo", 2);
        var sink = new ListSink();
        var context = new ProtocolContext(new DirectAgentGroup([ada, twin, bo]), sink, TinyGroup.World(), 5, new Dictionary<string, AgentProfile>());
        await Convergence.Run(context, new ConvergenceStep(0, Probes: 10, K: 3, CircuitFacts: 4, EdgeFraction: 0.1));

        var circuits = sink.Events.OfType<TraceEvent>().Where(t => t.Kind == "circuit").ToList();
        int traced = circuits.Select(t => t.Fact).Distinct().Count();
        Assert.InRange(traced, 3, 4); // a fact whose subject has no same-length partner has no token-swap corruption
        Assert.Equal(3 * traced, circuits.Count); // every pair of agents on every traced fact
        Assert.All(circuits.Where(t => t.AgentB == "twin"), t => Assert.True(t.AgentA == "ada" && t.EdgeJaccard == 1 && Math.Abs(t.WeightedOverlap - 1) < 1e-9, $"{t.Fact}: {t.EdgeJaccard}"));
        var acrossSeeds = circuits.Where(t => t.AgentB == "bo").ToList();
        Assert.All(acrossSeeds, t => Assert.InRange(t.EdgeJaccard, 0, 1));
        Assert.True(acrossSeeds.Average(t => t.EdgeJaccard) < 0.95, "independently trained agents should not have identical circuits");
        Assert.True(acrossSeeds.Average(t => t.EdgeJaccard) > 0.0, "agents trained on the same world share some of a fact's circuit");
        // The representation part of the step is still there.
        Assert.Contains(sink.Events.OfType<TraceEvent>(), t => t.Kind == "convergence");
    }
}

/// <summary>A sink that keeps every event in memory.</summary>
sealed class ListSink : IEventSink
{
    public List<object> Events { get; } = [];
    public void Record(object e) { lock (Events) Events.Add(e); }
    public Task Flush() => Task.CompletedTask;
    public AnswerEvent? Recorded(string id) => null;
    public bool StepDone(int step) => false;
    public IReadOnlyList<AnswerEvent> AnswersOf(int step) => [];
}

/// <summary>A sink that keeps nothing (for tests of single agents).</summary>
sealed class NullSink : IEventSink
{
    public void Record(object e) { }
    public Task Flush() => Task.CompletedTask;
    public AnswerEvent? Recorded(string id) => null;
    public bool StepDone(int step) => false;
    public IReadOnlyList<AnswerEvent> AnswersOf(int step) => [];
}
