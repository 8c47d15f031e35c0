using Evolution.Core;
using Evolution.Core.Evaluation;
using Evolution.Core.Worlds;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates.Tests;

[Collection(TinyAgentCollection.Name)]
public class RomeTests(TinyAgent tiny)
{
    [Fact]
    public void RankOneUpdateWritesTheValueAtThePromptKeyAndSparesOrthogonalKeys()
    {
        var generator = new Generator(3, CPU);
        var weight = randn(new long[] { 6, 10 }, ScalarType.Float64, generator: generator);
        var samples = randn(new long[] { 200, 10 }, ScalarType.Float64, generator: generator);
        using var sampleCount = 200.ToScalar();
        using var noise = 0.3.ToScalar();
        var covariance = samples.t().matmul(samples).div(sampleCount);
        var keyStar = randn(new long[] { 10 }, ScalarType.Float64, generator: generator);
        var promptKey = keyStar.add(randn(new long[] { 10 }, ScalarType.Float64, generator: generator).mul(noise), Scalars.One);
        var valueChange = randn(new long[] { 6 }, ScalarType.Float64, generator: generator);

        var delta = RomeEditor.RankOneUpdate(covariance, keyStar, promptKey, valueChange, regularizer: 0);
        Assert.Equal(1, linalg.matrix_rank(delta).item<long>());
        Assert.True(weight.add(delta, Scalars.One).matmul(promptKey).allclose(weight.matmul(promptKey).add(valueChange, Scalars.One), 1e-9, 1e-9), "W'k must be Wk + δ at the edit prompt's key");

        // a key u with uᵀC⁻¹k* = 0 is left alone: minimal disturbance under C
        var cInvK = linalg.solve(covariance, keyStar);
        var u = randn(new long[] { 10 }, ScalarType.Float64, generator: generator);
        u -= cInvK * (u.dot(cInvK) / cInvK.dot(cInvK));
        Assert.True(delta.matmul(u).abs().max().item<double>() < 1e-9);
    }

    [Fact]
    public void RomeEditOnAnAgentIsRankOneOnOneLayerRanksTheNewObjectFirstAndReverts()
    {
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var corpus = CorpusBuilder.Build(world, tiny.Agent.Profile.Data, 1).Documents;
        var editor = new RomeEditor(new RomeHyperParams(Layer: 0), new KeyStatistics(corpus), corpus);
        var ranker = new CandidateRanker(model, tokenizer);
        var person = world.OfType("person")[1];
        int old = world.ObjectOf(person.Id, "works_for", 0);
        var prompt = EditEvaluation.RequestFor(world, new FactChange(1, person.Id, "works_for", old, old)).Prompt;
        var top = ranker.Rank([new RankingItem("before", prompt, " " + world[old].Name, world.CandidateAnswers("company"))])[0].Top;
        // A new object the agent does not give yet, so ranking first after the edit is the edit's doing.
        var change = new FactChange(1, person.Id, "works_for", old, world.OfType("company").First(c => c.Id != old && " " + c.Name != top).Id);
        var request = EditEvaluation.RequestFor(world, change);
        var item = new RankingItem("edit", request.Prompt, " " + request.TargetNew, world.CandidateAnswers("company"));
        Assert.False(ranker.Rank([item])[0].Hit1);
        var before = model.Blocks[0].Mlp.Out.weight!.detach().clone();

        using var delta = editor.ComputeDelta(model, tokenizer, [request]);
        Assert.Equal(["blocks.0.mlp.c_proj.weight"], delta.Delta.Keys);
        Assert.Equal(1, linalg.matrix_rank(delta.Delta["blocks.0.mlp.c_proj.weight"].to(ScalarType.Float64), rtol: 1e-5).item<long>());
        delta.Apply(model);
        try
        {
            Assert.False(model.Blocks[0].Mlp.Out.weight!.allclose(before, 0, 0));
            var after = ranker.Rank([item])[0];
            Assert.True(after.Hit1, $"after the edit {after.Top} ranks first, not the new object {request.TargetNew}");
        }
        finally { delta.Revert(model); }
        Assert.True(model.Blocks[0].Mlp.Out.weight!.allclose(before, 0, 0));
        Assert.False(ranker.Rank([item])[0].Hit1);
    }
}

[Collection(TinyAgentCollection.Name)]
public class RomeEssenceTests(TinyAgent tiny)
{
    [Fact]
    public void EssencePromptsAskTheSubjectsOtherRelationsNeverWithALocalityPrompt()
    {
        var world = tiny.Agent.World;
        var person = world.OfType("person")[0];
        var essence = EditEvaluation.EssencePrompts(world, person.Id, "works_for");
        var others = RelationCatalogue.All.Where(r => r.SubjectType == "person" && r.Name != "works_for").ToList();
        Assert.Equal(others.Count, essence.Count);
        Assert.All(essence, p => Assert.Contains(person.Name, p));
        int old = world.ObjectOf(person.Id, "works_for", 0);
        var change = new FactChange(1, person.Id, "works_for", old, world.OfType("company").First(c => c.Id != old).Id);
        Assert.Equal(essence, EditEvaluation.RequestFor(world, change).EssencePrompts);
        var probe = EditProbes.For(world, [change], 0, questions => questions.Select(q => ProbeAnswer.Sure(q, q.Candidates[0])).ToList())[0];
        Assert.DoesNotContain(probe.Neighbours, n => essence.Contains(n.Question.Prompt));
    }

    [Fact]
    public void KeepingTheSubjectsOtherRelationsKeepsTheirAnswers()
    {
        // On the tiny agent, ROME's "{subject} is a" alone lets an edit move the subject's other answers; the KL on the
        // subject's other relations keeps more of them, at little cost in reliability. The same KL weight on both sides,
        // larger than the default: the tiny agent has few facts per subject to show the difference on.
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var corpus = CorpusBuilder.Build(world, tiny.Agent.Profile.Data, 1).Documents;
        var statistics = new KeyStatistics(corpus);
        var probes = EditProbes.For(world, WorldChanges.Select(world, 0, 12), 0, EditMetrics.Weights(model, tokenizer));
        (double Reliability, double SubjectLocality) Run(EssenceSource essence)
        {
            var scores = EditEvaluation.Singles(model, tokenizer, probes, new RomeEditor(new RomeHyperParams(KlFactor: 1, Essence: essence), statistics, corpus));
            return (EditMetrics.MeanDefined(scores.Select(s => s.Reliability)), EditMetrics.MeanDefined(scores.Select(s => s.SubjectLocality)));
        }
        var isA = Run(EssenceSource.IsA);
        var subjectFacts = Run(EssenceSource.SubjectFacts);
        Assert.True(subjectFacts.SubjectLocality > isA.SubjectLocality, $"subject locality {subjectFacts.SubjectLocality:F3} with the subject's facts kept, {isA.SubjectLocality:F3} with is-a alone");
        Assert.True(subjectFacts.Reliability >= isA.Reliability - 0.1, $"reliability {subjectFacts.Reliability:F3} against {isA.Reliability:F3}");
    }
}

[Collection(TinyAgentCollection.Name)]
public class MemitTests(TinyAgent tiny)
{
    [Fact]
    public void MemitBatchChangesOnlyItsLayersAndReverts()
    {
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var corpus = CorpusBuilder.Build(world, tiny.Agent.Profile.Data, 1).Documents;
        var editor = new MemitEditor(new MemitHyperParams(Layers: [0, 1], Steps: 5), new KeyStatistics(corpus), corpus);
        var requests = world.OfType("person").Take(3).Select(p =>
        {
            int old = world.ObjectOf(p.Id, "studied_at", 0);
            return EditEvaluation.RequestFor(world, new FactChange(1, p.Id, "studied_at", old, world.OfType("university").First(u => u.Id != old).Id));
        }).ToList();
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());
        using var delta = editor.ComputeDelta(model, tokenizer, requests);
        Assert.Equal(new[] { "blocks.0.mlp.c_proj.weight", "blocks.1.mlp.c_proj.weight" }, delta.Delta.Keys.Order());
        foreach (var (name, t) in model.state_dict()) Assert.True(t.allclose(before[name], 0, 0), $"computing the delta changed {name}");
        delta.Apply(model);
        delta.Revert(model);
        foreach (var (name, t) in model.state_dict()) Assert.True(t.allclose(before[name], 0, 0), $"{name} not restored");
    }

    [Fact]
    public void MemitBatchAtThePromptsLastTokenWritesEveryNewObject()
    {
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var corpus = CorpusBuilder.Build(world, tiny.Agent.Profile.Data, 1).Documents;
        var ranker = new CandidateRanker(model, tokenizer);
        // Two relations of one person (one key at the subject, two at the prompt's last token) and two other people;
        // each new object is one the model does not answer yet.
        var people = world.OfType("person");
        var facts = new[] { (people[1], "born_in", "city"), (people[1], "studied_at", "university"), (people[3], "born_in", "city"), (people[4], "studied_at", "university") };
        var edits = facts.Select(f =>
        {
            int old = world.ObjectOf(f.Item1.Id, f.Item2, 0);
            var prompt = EditEvaluation.RequestFor(world, new FactChange(1, f.Item1.Id, f.Item2, old, old)).Prompt;
            var top = ranker.Rank([new RankingItem("before", prompt, " " + world[old].Name, world.CandidateAnswers(f.Item3))])[0].Top;
            var request = EditEvaluation.RequestFor(world, new FactChange(1, f.Item1.Id, f.Item2, old, world.OfType(f.Item3).First(o => o.Id != old && " " + o.Name != top).Id));
            return (Request: request, Item: new RankingItem("edit", request.Prompt, " " + request.TargetNew, world.CandidateAnswers(f.Item3)));
        }).ToList();
        Assert.All(ranker.Rank(edits.Select(e => e.Item).ToList()), a => Assert.False(a.Hit1));

        var editor = new MemitEditor(new MemitHyperParams(), new KeyStatistics(corpus), corpus);
        using var delta = editor.ComputeDelta(model, tokenizer, edits.Select(e => e.Request).ToList());
        Assert.Equal(["blocks.1.mlp.c_proj.weight"], delta.Delta.Keys); // default: the last layer
        delta.Apply(model);
        try { Assert.All(ranker.Rank(edits.Select(e => e.Item).ToList()), a => Assert.True(a.Hit1, $"{a.Top} instead of the new object")); }
        finally { delta.Revert(model); }
    }

    [Fact]
    public void BatchUpdateWritesEveryResidualWhenThePriorIsNegligible()
    {
        var generator = new Generator(9, CPU);
        var keys = randn(new long[] { 12, 5 }, ScalarType.Float64, generator: generator);      // 5 edits, d_mlp 12
        var residuals = randn(new long[] { 4, 5 }, ScalarType.Float64, generator: generator);  // d_model 4
        var samples = randn(new long[] { 100, 12 }, ScalarType.Float64, generator: generator);
        using var sampleCount = 100.ToScalar();
        var covariance = samples.t().matmul(samples).div(sampleCount);
        var delta = MemitEditor.BatchUpdate(keys, residuals, covariance, lambda: 1e-9);
        Assert.True(delta.matmul(keys).allclose(residuals, 1e-5, 1e-6), "ΔW K must equal R");
        // a strong prior keeps the update small: it trades the edits against the other keys
        var cautious = MemitEditor.BatchUpdate(keys, residuals, covariance, lambda: 1e3);
        Assert.True(cautious.norm().item<double>() < 0.1 * delta.norm().item<double>());
        // one edit: a rank-one update, as ROME's
        Assert.Equal(1, linalg.matrix_rank(MemitEditor.BatchUpdate(keys[.., ..1], residuals[.., ..1], covariance, 1.0)).item<long>());
    }
}
