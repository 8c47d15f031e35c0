using Evolution.Core.Agents;
using Evolution.Core.Evaluation;
using Evolution.Core.Worlds;
using Evolution.Updates.Retrieval;
using static TorchSharp.torch;

namespace Evolution.Updates.Tests;

/// <summary>An agent trained on the tiny world from a profile given as text, once per test collection (a few seconds).</summary>
public abstract class TinyWorldAgent : IDisposable
{
    public string Cache { get; }
    public TrainedAgent Agent { get; }

    protected TinyWorldAgent(string name, string profileYaml)
    {
        Cache = Directory.CreateTempSubdirectory("evolution-" + name).FullName;
        var profile = Path.Combine(Cache, name + ".yaml");
        File.WriteAllText(profile, profileYaml);
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root.FullName, "Evolution.sln"))) root = root.Parent!;
        Agent = AgentTraining.TrainOrLoad(Path.Combine(root.FullName, "scenarios", "worlds", "tiny.yaml"), profile, Cache, CPU);
    }

    public void Dispose() => Directory.Delete(Cache, recursive: true);
}

/// <summary>The tiny GPT-2 agent most editing tests share.</summary>
public sealed class TinyAgent() : TinyWorldAgent("updates", """
    name: tiny-edit
    model: {layers: 2, d_model: 64, heads: 2, context: 64}
    training: {seed: 4, steps: 700, batch_size: 16, learning_rate: 0.003, warmup_steps: 50, eval_every: 0}
    """)
{
    /// <summary>One statement per fact of the tiny world at epoch 1, rendered with a training statement template.</summary>
    public List<Statement> EpochOneStatements()
    {
        var world = Agent.World;
        return world.FactsAt(1).Select(f =>
        {
            var template = world.TrainingTemplates(RelationCatalogue.Get(f.Relation)).First(t => t.Kind == TemplateKind.Statement);
            return new Statement { Id = $"{f.Subject}:{f.Relation}", Text = template.Render(world[f.Subject].Name, world[f.Object].Name), Subject = f.Subject, Relation = f.Relation, Object = world[f.Object].Name, Epoch = 1 };
        }).ToList();
    }

}

/// <summary>Every test class that needs the tiny agent shares one training run.</summary>
[CollectionDefinition(Name)]
public sealed class TinyAgentCollection : ICollectionFixture<TinyAgent>
{
    public const string Name = "tiny agent";
}

[Collection(TinyAgentCollection.Name)]
public class EditingTests(TinyAgent tiny)
{
    static float[] Weights(TorchSharp.Modules.Parameter p) => p.detach().cpu().data<float>().ToArray();

    FactChange AChange()
    {
        var world = tiny.Agent.World;
        var person = world.OfType("person")[2];
        int old = world.ObjectOf(person.Id, "born_in", 0);
        // The new object must be neither the old one nor what the model already answers (the tiny agent is not perfect).
        var query = EvalSets.ForFact(world, person.Id, "born_in", 0, heldOut: false)[0];
        var top = new CandidateRanker(tiny.Agent.Model, tiny.Agent.Tokenizer).Rank([query.ToRankingItem()])[0].Top;
        return new FactChange(1, person.Id, "born_in", old, world.OfType("city").First(c => c.Id != old && " " + c.Name != top).Id);
    }

    [Fact]
    public void EditChangesTheTargetAndRevertRestoresTheWeightsBitForBit()
    {
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var change = AChange();
        var request = EditEvaluation.RequestFor(world, change);
        var item = new RankingItem("edit", request.Prompt, " " + request.TargetNew, world.CandidateAnswers("city"));
        var ranker = new CandidateRanker(model, tokenizer);
        var parameter = model.Blocks[1].Mlp.Out.weight!;
        var before = Weights(parameter);
        Assert.False(ranker.Rank([item])[0].Hit1, "the new object must not already be the answer");

        using var delta = new FineTuningEditor(new FtHyperParams(Steps: 40, LearningRate: 3e-3)).ComputeDelta(model, tokenizer, [request]);
        Assert.Equal(before, Weights(parameter)); // computing a delta leaves the model as it was
        delta.Apply(model);
        Assert.True(ranker.Rank([item])[0].Hit1, "after the edit the new object must rank first");
        delta.Revert(model);
        Assert.Equal(before, Weights(parameter));
        Assert.False(ranker.Rank([item])[0].Hit1);
    }

    [Fact]
    public void FtLChangesOnlyItsLayerAndStaysWithinTheNormBound()
    {
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var hyper = new FtLHyperParams(NormConstraint: 0.01, LearningRate: 5e-3);
        using var delta = new FineTuningEditor(hyper).ComputeDelta(model, tokenizer, [EditEvaluation.RequestFor(world, AChange())]);
        Assert.Equal(["blocks.1.mlp.c_proj.weight"], delta.Delta.Keys);
        var change = delta.Delta["blocks.1.mlp.c_proj.weight"];
        Assert.True(change.abs().max().item<float>() <= 0.01f + 1e-6f, $"max |Δ| = {change.abs().max().item<float>()}");
        Assert.True(change.abs().max().item<float>() > 0, "nothing changed");
    }

    [Fact]
    public void MetricsAreMeasuredOnTheRightQueries()
    {
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var change = AChange();
        var plain = EditEvaluation.Evaluate(model, tokenizer, world, change, new FineTuningEditor(new FtHyperParams(Steps: 40, LearningRate: 3e-3)), 0);
        Assert.Equal(1.0, plain.Reliability);
        Assert.InRange(plain.Generalization, 0, 1);
        Assert.InRange(plain.Locality, 0, 1);
        Assert.Equal(1, plain.PortabilityQueries); // born_in is the first hop of exactly one composition
        // an editor that changes nothing keeps every neighbour and never reaches the new object
        var none = EditEvaluation.Evaluate(model, tokenizer, world, change, new FineTuningEditor(new FtLHyperParams([1], Steps: 0)), 0);
        Assert.Equal(1.0, none.Locality);
        Assert.Equal(1.0, none.RelationLocality);
        Assert.Equal(1.0, none.SubjectLocality);
        Assert.Equal(0.0, none.Reliability);
    }

    [Fact]
    public void LocalityIsSplitBetweenTheRelationsOtherSubjectsAndTheSubjectsOtherRelations()
    {
        var world = tiny.Agent.World;
        var change = AChange();
        var probe = EditProbes.For(world, [change], 0, questions => questions.Select(q => ProbeAnswer.Sure(q, q.Candidates[0])).ToList())[0];
        Assert.Contains(probe.Neighbours, n => n.Question.Subject == change.Subject);
        Assert.Contains(probe.Neighbours, n => n.Question.Subject != change.Subject);
        // Every neighbour about the changed subject answered differently, every other one as before.
        var answers = EditMetrics.Questions([probe]).Select(q =>
        {
            var neighbour = probe.Neighbours.FirstOrDefault(n => n.Question == q);
            if (neighbour.Question is null) return ProbeAnswer.Sure(q, q.Candidates[0]);
            return ProbeAnswer.Sure(q, neighbour.Question.Subject == change.Subject ? q.Candidates.First(c => c != neighbour.Before) : neighbour.Before);
        }).ToList();
        var rates = EditMetrics.Score([probe], answers);
        Assert.Equal(1.0, rates.RelationLocality);
        Assert.Equal(0.0, rates.SubjectLocality);
        int sameSubject = probe.Neighbours.Count(n => n.Question.Subject == change.Subject);
        Assert.Equal(1.0 - sameSubject / (double)probe.Neighbours.Count, rates.Locality, 12);
    }

    [Fact]
    public void SuccessRatesCompareTheNewObjectWithTheOldWhereRankedScoresAskForTheTop()
    {
        var world = tiny.Agent.World;
        var change = AChange();
        var probe = EditProbes.For(world, [change], 0, questions => questions.Select(q => ProbeAnswer.Sure(q, q.Candidates[0])).ToList())[0];
        // Neighbours that could answer the new object (same relation: a person's other relations ask no city).
        var sameRelation = probe.Neighbours.Where(n => n.Question.Candidates.Contains(probe.NewAnswer) && n.Truth != probe.NewAnswer).ToList();
        Assert.NotEmpty(sameRelation);
        Assert.All(sameRelation, n => Assert.NotEqual(change.Subject, n.Question.Subject));
        // Direct questions: a third candidate on top, the new object above the old one (0.5 > 0.3 > 0.2): the papers' efficacy
        // counts it, the ranked reliability does not. Neighbours: the truth kept on top but the new object lifted above it on
        // the first one only.
        ProbeAnswer Reply(ProbeQuestion q)
        {
            var neighbour = probe.Neighbours.FirstOrDefault(n => n.Question == q);
            if (neighbour.Question is null)
            {
                string third = q.Candidates.First(c => c != probe.NewAnswer && c != probe.OldAnswer);
                return new ProbeAnswer(third, q.Candidates.Select(c => c == third ? 0.5 : c == probe.NewAnswer ? 0.3 : c == probe.OldAnswer ? 0.2 : 0).ToList());
            }
            bool lifted = neighbour.Question == sameRelation[0].Question;
            return new ProbeAnswer(neighbour.Truth, q.Candidates.Select(c => c == neighbour.Truth ? 0.6 : c == probe.NewAnswer ? (lifted ? 0.7 : 0.1) : 0).ToList());
        }
        var rates = EditMetrics.Score([probe], EditMetrics.Questions([probe]).Select(Reply).ToList());
        Assert.Equal(0.0, rates.Reliability);
        Assert.Equal(1.0, rates.Success.Efficacy);
        Assert.Equal(0.1, rates.Success.EfficacyMagnitude, 12);
        Assert.Equal(1.0, rates.Success.ParaphraseSuccess);
        // Only neighbours that can answer the new object count; one of them lost.
        Assert.Equal(1.0 - 1.0 / sameRelation.Count, rates.Success.NeighborhoodSuccess, 12);
        Assert.Equal((-0.1 + 0.5 * (sameRelation.Count - 1)) / sameRelation.Count, rates.Success.NeighborhoodMagnitude, 12);
    }

    [Fact]
    public void SequentialEditingReportsCheckpointsAndRestoresTheModelExactly()
    {
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
        var changes = world.OfType("person").Take(3).Select(p =>
        {
            int old = world.ObjectOf(p.Id, "works_for", 0);
            return new FactChange(1, p.Id, "works_for", old, world.OfType("company").First(c => c.Id != old).Id);
        }).ToList();
        var editor = new FineTuningEditor(new FtHyperParams(Steps: 30, LearningRate: 3e-3));
        var curve = EditEvaluation.Sequential(model, tokenizer, EditProbes.For(world, changes, 0, EditMetrics.Weights(model, tokenizer)), editor);
        Assert.Equal(new[] { 1, 3 }, curve.Select(p => p.Edits));
        Assert.Equal(1.0, curve[0].Reliability);
        Assert.All(curve, p => Assert.InRange(p.Locality, 0, 1));
        foreach (var (name, tensor) in model.state_dict())
            Assert.True(tensor.allclose(before[name], 0, 0), $"{name} not restored");
    }
}
