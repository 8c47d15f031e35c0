using Evolution.Core;
using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Worlds;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates.Tests;

[Collection(TinyAgentCollection.Name)]
public class AlphaEditTests(TinyAgent tiny)
{
    const int Layer = 1; // the tiny agent's last layer, AlphaEdit's default
    const string Weight = "blocks.1.mlp.c_proj.weight";

    IReadOnlyList<string> Corpus() => CorpusBuilder.Build(tiny.Agent.World, tiny.Agent.Profile.Data, 1).Documents;

    /// <summary>Edits of (person index, relation, object type), each to an object the agent does not answer yet; with their ranking items.</summary>
    List<(EditRequest Request, RankingItem Item)> Edits(params (int Person, string Relation, string Type)[] facts)
    {
        var world = tiny.Agent.World;
        var ranker = new CandidateRanker(tiny.Agent.Model, tiny.Agent.Tokenizer);
        return facts.Select(f =>
        {
            var person = world.OfType("person")[f.Person];
            int old = world.ObjectOf(person.Id, f.Relation, 0);
            var prompt = EditEvaluation.RequestFor(world, new FactChange(1, person.Id, f.Relation, old, old)).Prompt;
            var top = ranker.Rank([new RankingItem("before", prompt, " " + world[old].Name, world.CandidateAnswers(f.Type))])[0].Top;
            var request = EditEvaluation.RequestFor(world, new FactChange(1, person.Id, f.Relation, old, world.OfType(f.Type).First(o => o.Id != old && " " + o.Name != top).Id));
            return (request, new RankingItem("edit", request.Prompt, " " + request.TargetNew, world.CandidateAnswers(f.Type)));
        }).ToList();
    }

    /// <summary>The MLP keys (hook_post at <see cref="Layer"/>) of every token of <paramref name="texts"/>, [d_mlp, tokens], or of each text's last token.</summary>
    Tensor Keys(IEnumerable<string> texts, bool lastOnly = false)
    {
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var hook = $"blocks.{Layer}.mlp.hook_post";
        var keys = texts.Select(text =>
        {
            long[] tokens = [tokenizer.EndOfText, .. tokenizer.Encode(text).Take(model.Config.ContextLength - 1).Select(t => (long)t)];
            var (_, cache) = model.RunWithCache(tensor(tokens, [1, tokens.Length]), n => n == hook);
            using (cache) return (lastOnly ? cache[hook][0, ^1..] : cache[hook][0]).to(ScalarType.Float64).clone();
        }).ToList();
        return cat(keys, 0).t();
    }

    static double MeanNorm(Tensor delta, Tensor keys) => delta.to(ScalarType.Float64).matmul(keys).norm(0).mean().item<double>();

    [Fact]
    public void ProjectionIsSymmetricIdempotentAndTheUpdateLeavesThePreservedDirectionsAloneUnlikeMemit()
    {
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var corpus = Corpus();
        var statistics = new KeyStatistics(corpus);
        var moment = statistics.SecondMoment(model, tokenizer, Layer);
        var p = AlphaEditEditor.NullSpaceProjection(moment, new AlphaEditHyperParams().NullSpaceThreshold, Layer);
        Assert.True(p.allclose(p.t(), 0, 1e-12), "P must be symmetric");
        Assert.True(p.matmul(p).allclose(p, 0, 1e-10), "P must be idempotent");
        var (_, vectors) = linalg.eigh(moment);
        Assert.True(p.matmul(vectors[.., ^8..]).abs().max().item<double>() < 1e-10, "P must remove the preserved keys' 8 main directions");

        var requests = Edits((1, "born_in", "city"), (3, "born_in", "city"), (4, "studied_at", "university")).Select(e => e.Request).ToList();
        using var alpha = new AlphaEditEditor(new AlphaEditHyperParams(), statistics, corpus).ComputeDelta(model, tokenizer, requests);
        using var memit = new MemitEditor(new MemitHyperParams(), statistics, corpus).ComputeDelta(model, tokenizer, requests);
        // Every token of 40 corpus texts, with its null-space part taken out: what the corpus' keys share with K0K0ᵀ's range.
        var preserved = Keys(corpus.TakeLast(40));
        var inRange = (eye(p.shape[0], dtype: ScalarType.Float64) - p).matmul(preserved);
        double alphaChange = MeanNorm(alpha.Delta[Weight], inRange), memitChange = MeanNorm(memit.Delta[Weight], inRange);
        Assert.True(alphaChange < 1e-4 * memitChange, $"mean ‖ΔW (I − P) k0‖: AlphaEdit {alphaChange:G3}, MEMIT {memitChange:G3}");
    }

    [Fact]
    public void AnEditRanksTheNewObjectFirstAndABatchWritesEveryNewObjectAndRestoresTheModel()
    {
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var corpus = Corpus();
        var statistics = new KeyStatistics(corpus);
        var ranker = new CandidateRanker(model, tokenizer);
        var edits = Edits((1, "born_in", "city"), (1, "studied_at", "university"), (3, "born_in", "city"), (4, "studied_at", "university"));
        Assert.All(ranker.Rank(edits.Select(e => e.Item).ToList()), a => Assert.False(a.Hit1));
        var before = model.state_dict().ToDictionary(p => p.Key, p => p.Value.detach().clone());

        using (var single = new AlphaEditEditor(new AlphaEditHyperParams(), statistics, corpus).ComputeDelta(model, tokenizer, [edits[0].Request]))
        {
            single.Apply(model);
            try { Assert.True(ranker.Rank([edits[0].Item])[0].Hit1, "the default edit does not rank the new object first"); }
            finally { single.Revert(model); }
        }
        // A batch of four: with the default ridge (1) one of them is written only to rank 2 on this agent; a ridge small
        // against ‖Pk‖² writes them all.
        var editor = new AlphaEditEditor(new AlphaEditHyperParams(Ridge: 1e-2), statistics, corpus);
        using var delta = editor.ComputeDelta(model, tokenizer, edits.Select(e => e.Request).ToList());
        Assert.Equal([Weight], delta.Delta.Keys);
        foreach (var (name, t) in model.state_dict()) Assert.True(t.allclose(before[name], 0, 0), $"computing the delta changed {name}");
        delta.Apply(model);
        try { Assert.All(ranker.Rank(edits.Select(e => e.Item).ToList()), a => Assert.True(a.Hit1, $"{a.Top} instead of the new object")); }
        finally { delta.Revert(model); }
        foreach (var (name, t) in model.state_dict()) Assert.True(t.allclose(before[name], 0, 0), $"{name} not restored");
    }

    [Fact]
    public void NullSpaceUpdateWritesTheBatchAndLeavesPreservedAndEarlierKeysAlone()
    {
        // Preserved keys span 6 of 12 dimensions, so the null space has 6: room for two batches of two edits.
        var generator = new Generator(5, CPU);
        var basis = randn(new long[] { 12, 6 }, ScalarType.Float64, generator: generator);
        var preserved = basis.matmul(randn(new long[] { 6, 300 }, ScalarType.Float64, generator: generator));
        using var count = 300.ToScalar();
        var p = AlphaEditEditor.NullSpaceProjection(preserved.matmul(preserved.t()).div(count), 1e-9, 0);
        Assert.Equal(6.0, p.trace().item<double>(), 9);
        var (k1, r1) = (randn(new long[] { 12, 2 }, ScalarType.Float64, generator: generator), randn(new long[] { 4, 2 }, ScalarType.Float64, generator: generator));
        var (k2, r2) = (randn(new long[] { 12, 2 }, ScalarType.Float64, generator: generator), randn(new long[] { 4, 2 }, ScalarType.Float64, generator: generator));

        var first = AlphaEditEditor.NullSpaceUpdate(k1, r1, p, null, ridge: 1e-9);
        Assert.True(first.matmul(k1).allclose(r1, 1e-6, 1e-6), "ΔW1 K1 must be R1");
        // Relative to what the same update does to keys of the same size outside K0's span (float64 round-off of eigh).
        double onPreserved = first.matmul(preserved).norm(0).mean().item<double>() / preserved.norm(0).mean().item<double>();
        double onEdits = first.matmul(k1).norm(0).mean().item<double>() / k1.norm(0).mean().item<double>();
        Assert.True(onPreserved < 1e-6 * onEdits, $"ΔW1 K0 must be 0: {onPreserved:G3} per unit key against {onEdits:G3} on the edit keys");
        var second = AlphaEditEditor.NullSpaceUpdate(k2, r2, p, k1, ridge: 1e-9);
        Assert.True(second.matmul(k2).allclose(r2, 1e-6, 1e-6), "ΔW2 K2 must be R2");
        Assert.True(second.matmul(k1).abs().max().item<double>() < 1e-6, "ΔW2 K1 must be 0: the earlier edits are kept");
        Assert.True(AlphaEditEditor.NullSpaceUpdate(k2, r2, p, null, 1e-9).matmul(k1).abs().max().item<double>() > 1e-2, "without Kp the second batch moves the first's keys");
    }

    [Fact]
    public void TheCovarianceWeightKeepsWhatTheNullSpaceLeavesOfThePreservedKeys()
    {
        // Preserved keys strong in 6 of 12 dimensions and weak (scale 0.05) in the other 6: at threshold 1e-2 the null space is
        // those 6 weak ones, which still carry some of every preserved key, as on the agents' last layers.
        var generator = new Generator(7, CPU);
        var strong = randn(new long[] { 12, 6 }, ScalarType.Float64, generator: generator).matmul(randn(new long[] { 6, 300 }, ScalarType.Float64, generator: generator));
        using var small = 0.05.ToScalar();
        var weak = randn(new long[] { 12, 300 }, ScalarType.Float64, generator: generator).mul(small);
        var (_, vectors) = linalg.eigh(strong.matmul(strong.t())); // ascending: the first 6 are strong's null space
        var weakSpace = vectors.narrow(1, 0, 6);
        var preserved = strong.add(weakSpace.matmul(weakSpace.t()).matmul(weak), Scalars.One);
        using var count = 300.ToScalar();
        var moment = preserved.matmul(preserved.t()).div(count);
        var p = AlphaEditEditor.NullSpaceProjection(moment, 1e-2, 0);
        Assert.Equal(6.0, p.trace().item<double>(), 9);
        var (k1, r1) = (randn(new long[] { 12, 2 }, ScalarType.Float64, generator: generator), randn(new long[] { 4, 2 }, ScalarType.Float64, generator: generator));

        var paper = AlphaEditEditor.NullSpaceUpdate(k1, r1, p, null, 1e-3);
        Assert.True(AlphaEditEditor.NullSpaceUpdate(k1, r1, p, null, 1e-3, moment, 0).allclose(paper, 0, 0), "λ 0 is the paper's update");
        var weighted = AlphaEditEditor.NullSpaceUpdate(k1, r1, p, null, 1e-3, moment, 3000);
        double leakPaper = MeanNorm(paper, preserved), leakWeighted = MeanNorm(weighted, preserved);
        Assert.True(leakPaper > 1e-3, $"the paper's update reaches the preserved keys' remainder: {leakPaper:G3}");
        Assert.True(leakWeighted < 0.5 * leakPaper, $"λ 3000 keeps them better: {leakWeighted:G3} against {leakPaper:G3}");
        // What it writes is still in the null space: ΔW = ΔW P.
        Assert.True(weighted.matmul(p).allclose(weighted, 1e-9, 1e-9));
        Assert.True(weighted.matmul(k1).sub(r1).norm().item<double>() < r1.norm().item<double>(), "the edits are still written, if less fully");
    }

    [Fact]
    public void AnEmptyNullSpaceIsRefusedNamingTheLayerAndThreshold()
    {
        // Eigenvalues 2 and 1: none is below a quarter of the largest.
        var moment = diag(tensor(new[] { 2.0, 1.0, 1.5 }, ScalarType.Float64));
        var error = Assert.Throws<InputException>(() => AlphaEditEditor.NullSpaceProjection(moment, 0.25, 3));
        Assert.Equal("--null-space-threshold", error.Field);
        Assert.Contains("layer 3", error.Message);
        Assert.Contains("0.25", error.Message);
        Assert.Equal(1.0, AlphaEditEditor.NullSpaceProjection(moment, 0.6, 3).trace().item<double>(), 12); // one eigenvalue (1) below 0.6 × 2

        // On the agent: far below the smallest eigenvalue, and the model is left as it was.
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var corpus = Corpus();
        var before = model.Blocks[Layer].Mlp.Out.weight!.detach().clone();
        var editor = new AlphaEditEditor(new AlphaEditHyperParams(NullSpaceThreshold: 1e-12, Steps: 2), new KeyStatistics(corpus), corpus);
        var onAgent = Assert.Throws<InputException>(() => editor.ComputeDelta(model, tokenizer, [Edits((1, "born_in", "city"))[0].Request]));
        Assert.Contains($"layer {Layer}", onAgent.Message);
        Assert.True(model.Blocks[Layer].Mlp.Out.weight!.allclose(before, 0, 0));
    }

    [Fact]
    public void ASecondBatchLeavesTheFirstBatchsKeysAloneAndRevertedEditsAreForgotten()
    {
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var corpus = Corpus();
        var statistics = new KeyStatistics(corpus);
        var first = Edits((1, "born_in", "city"), (3, "born_in", "city")).Select(e => e.Request).ToList();
        var second = Edits((4, "studied_at", "university"), (5, "born_in", "city")).Select(e => e.Request).ToList();
        var editor = new AlphaEditEditor(new AlphaEditHyperParams(), statistics, corpus);
        var firstKeys = Keys(first.Select(r => r.Prompt), lastOnly: true); // the edit prompts' own keys (the editor averages over prefixes too)

        using var delta1 = editor.ComputeDelta(model, tokenizer, first);
        delta1.Apply(model);
        try
        {
            using var delta2 = editor.ComputeDelta(model, tokenizer, second);
            Assert.Equal(4, editor.RememberedEdits);
            using var forgetful = new AlphaEditEditor(new AlphaEditHyperParams(), statistics, corpus).ComputeDelta(model, tokenizer, second);
            double written = MeanNorm(delta1.Delta[Weight], firstKeys);
            double kept = MeanNorm(delta2.Delta[Weight], firstKeys), notKept = MeanNorm(forgetful.Delta[Weight], firstKeys);
            Assert.True(kept < 0.5 * notKept, $"‖ΔW2 k1‖ {kept:G3} with the first batch's keys, {notKept:G3} without (‖ΔW1 k1‖ {written:G3})");
        }
        finally { delta1.Revert(model); }

        // Both batches were undone (the second never applied): the next update starts from an empty Kp.
        using var third = editor.ComputeDelta(model, tokenizer, second);
        Assert.Equal(2, editor.RememberedEdits);
        // The log keeps every batch written, reverted ones too, with the Kp each was solved against.
        Assert.Equal([(1, 0), (2, 2), (3, 0)], editor.NullSpaceLog.Select(u => (u.Batch, u.EarlierEdits)));
        Assert.All(editor.NullSpaceLog, u => Assert.True(u is { Layer: Layer, Requests: 2, EditKeyShare: > 0 and < 1 } && u.Dimension < u.Width, u.ToString()));
    }

    [Fact]
    public void NullSpaceUseMeasuresWhatTheProjectionLeavesOfEachKeySet()
    {
        using var scope = NewDisposeScope();
        var p = diag(tensor(new double[] { 0, 0, 1, 1 }));
        var preserved = diag(tensor(new double[] { 4, 3, 1, 0 }));
        // Two keys half in the null space, along different null directions.
        var apart = NullSpaceUse.Of(1, 3, p, preserved, tensor(new double[] { 1, 0, 0, 1, 1, 0, 0, 1 }, [4, 2]), 7);
        Assert.Equal((2, 4, 2, 7), (apart.Dimension, apart.Width, apart.Requests, apart.EarlierEdits));
        Assert.Equal(1.0 / 8, apart.PreservedShare, 12);
        Assert.Equal(0.5, apart.EditKeyShare, 12);
        Assert.Equal(1.0, apart.EditKeyNorm, 12);
        Assert.Equal(0.0, apart.EditKeyCosine, 12);
        // The second key now along the first's null direction, twice as long: ‖Pk‖² 1 and 4 of ‖k‖² 2 and 4.
        var along = NullSpaceUse.Of(1, 3, p, preserved, tensor(new double[] { 1, 0, 0, 0, 1, 2, 0, 0 }, [4, 2]), 0);
        Assert.Equal(5.0 / 6, along.EditKeyShare, 12);
        Assert.Equal(2.5, along.EditKeyNorm, 12);
        Assert.Equal(1.0, along.EditKeyCosine, 12);
    }

    [Fact]
    public void SingleEditsAppliedAndRevertedDoNotDependOnTheirOrder()
    {
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var corpus = Corpus();
        var statistics = new KeyStatistics(corpus);
        var requests = Edits((1, "born_in", "city"), (4, "studied_at", "university")).Select(e => e.Request).ToList();
        var weight = model.Blocks[Layer].Mlp.Out.weight!;

        // EasyEdit's single edits with one editor: the second is written after the first was applied and reverted.
        var editor = new AlphaEditEditor(new AlphaEditHyperParams(), statistics, corpus);
        var edited = EditEvaluation.EachAlone(model, tokenizer, requests, editor, _ => weight.detach().clone());
        Assert.Equal(1, editor.RememberedEdits); // the reverted first edit was forgotten

        using var alone = new AlphaEditEditor(new AlphaEditHyperParams(), statistics, corpus).ComputeDelta(model, tokenizer, [requests[1]]);
        alone.Apply(model);
        try { Assert.True(weight.allclose(edited[1].Value, 0, 0), "the second single edit differs from the same edit by a fresh editor"); }
        finally { alone.Revert(model); }
        Assert.False(edited[0].Value.allclose(edited[1].Value, 0, 0));
    }
    [Fact]
    public void PreservingTheAgentsKnowledgeLeavesItsOtherFactsAloneButNotTheFactsItRewrites()
    {
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var corpus = Corpus();
        var knowledge = EditorCorpus.KnowledgeOf(tiny.Agent.World, tiny.Agent.Profile.Data);
        var statistics = new KeyStatistics(corpus, knowledge);
        var edits = Edits((1, "born_in", "city"), (4, "studied_at", "university"));
        var requests = edits.Select(e => e.Request).ToList();
        // Every training prompt of a fact is in the knowledge, the edit prompt first, and the edited facts are among them.
        var edited = knowledge.Where(f => requests.Any(r => r.Prompt == f[0])).ToList();
        Assert.Equal(2, edited.Count);
        Assert.All(edited, f => Assert.True(f.Count > 1));
        var othersKeys = Keys(knowledge.Except(edited).SelectMany(f => f), lastOnly: true);
        var editedKeys = Keys(edited.SelectMany(f => f), lastOnly: true);

        using var byCorpus = new AlphaEditEditor(new AlphaEditHyperParams(), statistics, corpus).ComputeDelta(model, tokenizer, requests);
        using var byKnowledge = new AlphaEditEditor(new AlphaEditHyperParams(Preserve: PreservedKeys.Knowledge), statistics, corpus).ComputeDelta(model, tokenizer, requests);
        double corpusOthers = MeanNorm(byCorpus.Delta[Weight], othersKeys), knowledgeOthers = MeanNorm(byKnowledge.Delta[Weight], othersKeys);
        // The rewritten facts are left out of K0: their keys are written, not protected.
        double written = MeanNorm(byKnowledge.Delta[Weight], editedKeys);
        var measured = $"‖ΔW k‖ on the other facts' keys {knowledgeOthers:G3} preserving the knowledge, {corpusOthers:G3} the corpus; on the edited facts' keys {written:G3}";
        Assert.True(knowledgeOthers < 0.8 * corpusOthers, measured);
        Assert.True(written > 2 * knowledgeOthers, measured);
        byKnowledge.Apply(model);
        try { Assert.True(new CandidateRanker(model, tokenizer).Rank([edits[0].Item])[0].Hit1, "the edit does not rank the new object first"); }
        finally { byKnowledge.Revert(model); }
    }

    [Fact]
    public void KeysOverTheFactsPromptsCarryTheEditToItsOtherPromptsBetterThanTheEditPromptAlone()
    {
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var corpus = Corpus();
        var knowledge = EditorCorpus.KnowledgeOf(tiny.Agent.World, tiny.Agent.Profile.Data);
        var statistics = new KeyStatistics(corpus, knowledge);
        var edits = Edits((1, "born_in", "city"), (4, "studied_at", "university"), (3, "born_in", "city"));
        var requests = edits.Select(e => e.Request).ToList();
        // The facts' other training prompts ("Q: Where was X born? A:", …), each asked for the new object.
        var others = edits.SelectMany(e => knowledge.Single(f => f[0] == e.Request.Prompt).Skip(1)
            .Select(p => e.Item with { Group = "other", Prompt = p })).ToList();
        Assert.True(others.Count >= 2 * edits.Count);

        (double EditPrompts, double OtherPrompts, int Hits) Measure(KeyPrompts keys)
        {
            using var delta = new AlphaEditEditor(new AlphaEditHyperParams(Preserve: PreservedKeys.Knowledge, Keys: keys), statistics, corpus)
                .ComputeDelta(model, tokenizer, requests);
            delta.Apply(model);
            try
            {
                var ranker = new CandidateRanker(model, tokenizer);
                var atEdit = ranker.Rank(edits.Select(e => e.Item));
                return (atEdit.Average(r => r.AnswerLogProb), ranker.Rank(others).Average(r => r.AnswerLogProb), atEdit.Count(r => r.Hit1));
            }
            finally { delta.Revert(model); }
        }
        double before = new CandidateRanker(model, tokenizer).Rank(edits.Select(e => e.Item)).Average(r => r.AnswerLogProb);
        var byEdit = Measure(KeyPrompts.Edit);
        var byFact = Measure(KeyPrompts.Fact);
        var measured = $"mean log P(new) on the other prompts: {byFact.OtherPrompts:F3} over the fact's prompts, {byEdit.OtherPrompts:F3} over the edit prompt; " +
            $"on the edit prompts {byFact.EditPrompts:F3} and {byEdit.EditPrompts:F3} ({before:F3} unedited); edit prompts ranking the new object first {byFact.Hits} and {byEdit.Hits} of {edits.Count}";
        // The value is shared with the other prompts, so the edit prompt gets less of it, but it is still written there.
        Assert.True(byFact.Hits >= edits.Count - 1, measured);
        Assert.True(byFact.EditPrompts > before + 1, measured);
        Assert.True(byFact.OtherPrompts > byEdit.OtherPrompts + 0.5, measured);
    }
}
