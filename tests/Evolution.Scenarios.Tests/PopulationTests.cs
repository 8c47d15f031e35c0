using Evolution.Agents.Population;
using Evolution.Core.Agents;
using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Worlds;
using Evolution.Mechanisms;
using Evolution.Updates;
using Evolution.Updates.Population;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary>
/// Agents on one shared base, each with its own real edits (ROME, two ROME edits in sequence, a MEMIT batch, FT-L, none):
/// answering all their questions in one batched call must give what each agent gives with its edits written into a copy
/// of the weights, and leave the base as it was.
/// </summary>
[Collection(TinyGroupCollection.Name)]
public class PopulationTests(TinyGroup group)
{
    /// <summary>Padded tokens per forward: small (about 16 rows of the tiny world's prompts), so that the questions (2–8 candidates each) take several forwards.</summary>
    const int BatchTokens = 16 * 12;

    sealed record Agent(string Name, AgentDelta? Delta, IReadOnlyList<WeightDelta> Written, IReadOnlyList<RankingItem> Questions);

    /// <summary>The shared base, a private copy of its weights and the agents with their edits: computed once for the class (edits take seconds).</summary>
    sealed record Population(TrainedAgent Shared, TrainedAgent Copy, IReadOnlyList<Agent> Agents);

    static Population? population;
    static readonly Lock populationLock = new();

    Population Built()
    {
        lock (populationLock)
        {
            if (population is not null) return population;
            var copy = Load();
            return population = new Population(Load(), copy, Agents(copy));
        }
    }

    TrainedAgent Load() => AgentTraining.TrainOrLoad(TinyGroup.TinyWorld, AgentProfile.Load(group.ProfilePath), File.ReadAllText(group.ProfilePath), group.Cache, CPU);

    /// <summary>
    /// The agents, their edits computed on <paramref name="copy"/> (which each sequential edit is written into while the
    /// next one is computed, then reverted). Every agent is asked about its own edits and about every other agent's.
    /// </summary>
    static List<Agent> Agents(TrainedAgent copy)
    {
        var (model, tokenizer, world) = (copy.Model, copy.Tokenizer, copy.World);
        var corpus = CorpusBuilder.Build(world, copy.Profile.Data, 1).Documents;
        var statistics = new KeyStatistics(corpus);
        var changes = WorldChanges.Select(world, 0, 7);
        var requests = changes.Select(c => EditEvaluation.RequestFor(world, c)).ToList();
        var questions = changes.Select((c, i) => new RankingItem(c.Relation, requests[i].Prompt, " " + requests[i].TargetNew,
            world.CandidateAnswers(RelationCatalogue.Get(c.Relation).ObjectType))).ToList();
        var rome = new RomeEditor(new RomeHyperParams(), statistics, corpus);

        var single = rome.ComputeDelta(model, tokenizer, [requests[0]]);
        var first = rome.ComputeDelta(model, tokenizer, [requests[1]]);
        first.Apply(model);
        var second = rome.ComputeDelta(model, tokenizer, [requests[2]]); // on the weights the first edit left
        first.Revert(model);
        var memit = new MemitEditor(new MemitHyperParams(Steps: 10), statistics, corpus).ComputeDelta(model, tokenizer, requests.Skip(3).Take(3).ToList());
        var ftL = new FineTuningEditor(new FtLHyperParams()).ComputeDelta(model, tokenizer, [requests[6]]);

        using var firstCompact = AgentDelta.From(first);
        using var secondCompact = AgentDelta.From(second);
        return
        [
            new("rome", AgentDelta.From(single), [single], questions),
            new("rome-twice", firstCompact.Then(secondCompact), [first, second], questions),
            new("memit", AgentDelta.From(memit), [memit], questions),
            new("ft-l", AgentDelta.From(ftL), [ftL], questions),
            new("none", null, [], questions),
        ];
    }

    [Fact]
    public void BatchedAnswersOverASharedBaseEqualEachAgentWithItsEditsWrittenIntoTheWeights()
    {
        var (shared, copy, agents) = Built();
        Assert.Equal(1, agents[0].Delta!.Layers.Single().Value.Rank);
        Assert.Equal(2, agents[1].Delta!.Layers.Single().Value.Rank);
        Assert.True(agents[3].Delta!.Layers.Single().Value.IsDense);

        // Small batches: rows of every agent meet in one forward, across several forwards.
        var sharedBase = new SharedBase(shared.Model, shared.Tokenizer, tokensPerBatch: BatchTokens);
        var asked = agents.SelectMany(a => a.Questions.Select(q => new AgentRankingItem(a.Delta, q))).ToList();
        Assert.True(asked.Sum(q => q.Item.Candidates.Count) > 3 * 16, "the questions must span several batches");
        var batched = sharedBase.Rank(asked);
        var beliefs = sharedBase.Beliefs(asked.Select(q => new AgentQuery(q.Delta, q.Item.Prompt, q.Item.Candidates)).ToList());

        int at = 0;
        var reference = new CandidateRanker(copy.Model, copy.Tokenizer);
        foreach (var agent in agents)
        {
            foreach (var written in agent.Written) written.Apply(copy.Model);
            var alone = reference.Rank(agent.Questions);
            var scores = reference.ScoreMany(agent.Questions.Select(q => (q.Prompt, q.Candidates)).ToList());
            foreach (var written in agent.Written.Reverse()) written.Revert(copy.Model);
            for (int q = 0; q < agent.Questions.Count; q++, at++)
            {
                var where = $"{agent.Name}, \"{agent.Questions[q].Prompt}\"";
                Assert.Equal(alone[q].Top, batched[at].Top);
                Assert.Equal(alone[q].Rank, batched[at].Rank);
                Assert.True(Math.Abs(alone[q].AnswerLogProb - batched[at].AnswerLogProb) < 1e-4, $"{where}: log p {batched[at].AnswerLogProb} batched, {alone[q].AnswerLogProb} alone");
                var probabilities = CandidateRanker.Softmax(scores[q]);
                double largest = probabilities.Zip(beliefs[at], (a, b) => Math.Abs(a - b)).Max();
                Assert.True(largest < 1e-5, $"{where}: probabilities differ by {largest:G3}");
            }
        }

        // The deltas did something: each edited agent puts more weight on the new object of its own edits than the base does.
        int perAgent = agents[0].Questions.Count;
        foreach (var (agent, question) in new[] { (0, 0), (1, 1), (1, 2), (2, 3), (2, 4), (2, 5), (3, 6) })
        {
            var (edited, unedited) = (batched[agent * perAgent + question], batched[4 * perAgent + question]);
            Assert.True(edited.AnswerLogProb > unedited.AnswerLogProb + 0.1,
                $"{agents[agent].Name}: log p({edited.Item.Answer} | \"{edited.Item.Prompt}\") {edited.AnswerLogProb:F3}, the base's {unedited.AnswerLogProb:F3}");
        }
    }

    [Fact]
    public void MechanismRecordsOverASharedBaseEqualEachAgentWithItsEditsWrittenIntoTheWeights()
    {
        var (shared, copy, agents) = Built();
        // Each agent reads a peer stating the edited object of every question, against its first other candidate: 5 agents × 7
        // questions = 35 answers, so the analysis takes two batched forwards with the agents' rows mixed in them.
        var cases = agents[0].Questions.Select(q =>
        {
            var own = q.Candidates.First(c => shared.Tokenizer.Encode(c)[0] != shared.Tokenizer.Encode(q.Answer)[0]);
            var peerCase = new PeerCase([$"{q.Prompt}{q.Answer}."], q.Prompt, own.TrimStart(), q.Answer.TrimStart());
            return new PeerQuery(peerCase.Reading, peerCase.OwnAnswer, peerCase.PeersAnswer, (-1.0, -2.0));
        }).ToList();
        var together = new SharedBase(shared.Model, shared.Tokenizer).AnalyzePeers([.. agents.SelectMany(a => cases.Select(c => new AgentPeerQuery(a.Delta, c)))]);

        int at = 0;
        foreach (var agent in agents)
        {
            foreach (var written in agent.Written) written.Apply(copy.Model);
            var alone = PeerPressure.AnalyzeMany(copy.Model, copy.Tokenizer, cases);
            foreach (var written in agent.Written.Reverse()) written.Revert(copy.Model);
            for (int q = 0; q < cases.Count; q++, at++)
            {
                var (expected, actual) = (alone[q], together[at]);
                var where = $"{agent.Name}, \"{cases[q].Reading.WithPeers}\"";
                Assert.True(Math.Abs(expected.LogitDifferenceAlone - actual.LogitDifferenceAlone) < 1e-4, $"{where}: alone {actual.LogitDifferenceAlone} shared, {expected.LogitDifferenceAlone} written");
                Assert.True(Math.Abs(expected.LogitDifferenceWithPeers - actual.LogitDifferenceWithPeers) < 1e-4, $"{where}: with peers {actual.LogitDifferenceWithPeers} shared, {expected.LogitDifferenceWithPeers} written");
                Assert.Equal(expected.Components.Select(c => c.Component), actual.Components.Select(c => c.Component));
                foreach (var (e, a) in expected.Components.Zip(actual.Components))
                    Assert.True(Math.Abs(e.WithPeers - a.WithPeers) < 1e-4 && Math.Abs(e.Alone - a.Alone) < 1e-4, $"{where}, {e.Component}: {a.Alone}/{a.WithPeers} shared, {e.Alone}/{e.WithPeers} written");
                double attention = expected.AttentionToPeers.Zip(actual.AttentionToPeers, (e, a) => e.Zip(a, (x, y) => Math.Abs(x - y)).Max()).Max();
                Assert.True(attention < 1e-5, $"{where}: attention to the peers differs by {attention:G3}");
            }
        }

        // The deltas are in the record: each edit moves the MLP layer it wrote towards its new object on its own question, against the unedited agent.
        int perAgent = cases.Count;
        foreach (var (agent, question) in new[] { (0, 0), (1, 1), (2, 3), (3, 6) })
        {
            var (edited, unedited) = (together[agent * perAgent + question], together[4 * perAgent + question]);
            Assert.True(edited.LogitDifferenceAlone < unedited.LogitDifferenceAlone - 0.1,
                $"{agents[agent].Name}: logit(own) − logit(edited object) alone {edited.LogitDifferenceAlone:F3}, the base's {unedited.LogitDifferenceAlone:F3}");
        }
    }

    [Fact]
    public void AHookedMechanismRecordWithoutTheAgentsOwnScoresIsRefused()
    {
        var (shared, _, agents) = Built();
        var q = agents[0].Questions[0];
        var peerCase = new PeerCase([$"{q.Prompt}{q.Answer}."], q.Prompt, q.Candidates.First(c => c != q.Answer).TrimStart(), q.Answer.TrimStart());
        var error = Assert.Throws<ArgumentException>(() => new SharedBase(shared.Model, shared.Tokenizer).AnalyzePeers([new AgentPeerQuery(agents[0].Delta, new PeerQuery(peerCase.Reading, peerCase.OwnAnswer, peerCase.PeersAnswer))]));
        Assert.Contains("log-probabilities", error.Message);
    }

    [Fact]
    public void BatchedAnsweringLeavesTheBaseWeightsBitForBit()
    {
        var (shared, _, agents) = Built();
        var before = shared.Model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
        new SharedBase(shared.Model, shared.Tokenizer, tokensPerBatch: BatchTokens).Rank(agents.SelectMany(a => a.Questions.Select(q => new AgentRankingItem(a.Delta, q))).ToList());
        foreach (var (name, weight) in shared.Model.state_dict())
            Assert.True(weight.allclose(before[name], 0, 0), $"{name} changed");
    }

    [Fact]
    public void ADeltaForAnotherShapeIsRefusedNamingTheParameterAndBothShapes()
    {
        var shared = Load();
        using var _ = shared.Model;
        var config = shared.Model.Config;
        using var wide = new AgentDelta(new Dictionary<int, LayerDelta> { [0] = LayerDelta.LowRank(ones(config.DModel * 2, 1), ones(config.DMlp * 2, 1)) });
        var sharedBase = new SharedBase(shared.Model, shared.Tokenizer);
        var error = Assert.Throws<ArgumentException>(() => sharedBase.ScoreMany([new AgentQuery(wide, "Q: x A:", [" y"])]));
        Assert.Contains("blocks.0.mlp.c_proj.weight", error.Message);
        Assert.Contains($"[{config.DModel * 2}, {config.DMlp * 2}]", error.Message);
        Assert.Contains($"[{config.DModel}, {config.DMlp}]", error.Message);
    }
}
