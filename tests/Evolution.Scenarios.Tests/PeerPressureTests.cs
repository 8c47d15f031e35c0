using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Evaluation;
using Evolution.Core.Worlds;
using Evolution.Mechanisms;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary>
/// The per-answer mechanism record on an agent trained with peer lines (a share of them followed when the majority is
/// wrong): three peers stating a wrong object move the agent's logit difference towards their answer, and the move is
/// the sum of the components' shifts.
/// </summary>
[Collection(TinyGroupCollection.Name)]
public class PeerPressureOnAgentsTests(TinyGroup group)
{
    [Fact]
    public void WrongPeersMoveTheLogitDifferenceTowardsThemAndTheComponentsAccountForIt()
    {
        var profile = AgentProfile.Load(group.ProfilePath);
        var agent = AgentTraining.TrainOrLoad(TinyGroup.TinyWorld, profile, File.ReadAllText(group.ProfilePath), group.Cache, CPU);
        var world = agent.World;
        var ranker = new CandidateRanker(agent.Model, agent.Tokenizer);
        var known = EvalSets.TrainQueries(world, profile.Data)
            .Where(q => q.Candidates.Count > 1 && ranker.Rank([q.ToRankingItem()])[0].Hit1).Take(8).ToList();
        Assert.True(known.Count >= 4, $"{known.Count} facts known alone");

        var results = known.Select(q =>
        {
            var wrong = q.Candidates.First(c => c != q.Answer && agent.Tokenizer.Encode(c)[0] != agent.Tokenizer.Encode(q.Answer)[0]);
            var template = world.TrainingTemplates(RelationCatalogue.Get(q.Relation)).First(t => t.Kind == TemplateKind.Statement);
            var statement = template.Render(world[q.Subject].Name, wrong.TrimStart());
            return PeerPressure.Analyze(agent.Model, agent.Tokenizer,
                new PeerCase([statement, statement, statement], q.Prompt, q.Answer.TrimStart(), wrong.TrimStart(), profile.Data.ContextStatementShare > 0));
        }).ToList();

        foreach (var r in results)
            Assert.Equal(r.LogitDifferenceWithPeers - r.LogitDifferenceAlone, r.Components.Sum(c => c.Shift), 2);
        Assert.True(results.Count(r => r.LogitDifferenceWithPeers < r.LogitDifferenceAlone) > results.Count / 2,
            string.Join("; ", results.Select(r => $"{r.LogitDifferenceAlone:F2} → {r.LogitDifferenceWithPeers:F2}")));
        // The answer position reads the peers: in every conforming answer some head puts a fifth of its attention on them.
        foreach (var r in results.Where(r => r.Conforms))
            Assert.True(r.AttentionToPeers.SelectMany(layer => layer).Max() > 0.2, $"{r.Prompt}: max attention to peers {r.AttentionToPeers.SelectMany(l => l).Max():F2}");
    }
}
