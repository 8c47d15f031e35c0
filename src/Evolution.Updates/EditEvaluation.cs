using System.Diagnostics;
using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;

namespace Evolution.Updates;

/// <summary>
/// EasyEdit's metrics for one edit, shared by every update method: reliability (the edit prompt now
/// ranks the new object first), generalisation (held-out paraphrases do too), locality (facts sharing
/// the subject or the relation keep their pre-edit answers), portability (two-hop questions through the
/// changed fact give the composed new answer); plus the cost of the update.
/// </summary>
public sealed record EditScore(double Reliability, double Generalization, double Locality, double Portability,
    int PortabilityQueries, double SecondsPerUpdate, long BytesStored);

/// <summary>Metrics after the first <see cref="Edits"/> edits were applied one after another, over every fact edited so far.</summary>
public sealed record SequentialPoint(int Edits, double Reliability, double Generalization, double Locality);

public static class EditEvaluation
{
    /// <summary>All edits written by one call (MEMIT's batch setting), measured over every edit; the model is restored exactly.</summary>
    public static SequentialPoint Batch(Gpt model, ITextTokenizer tokenizer, World world, IReadOnlyList<FactChange> changes, IKnowledgeEditor editor, int knowledgeEpoch)
    {
        var ranker = new CandidateRanker(model, tokenizer);
        var (neighbours, before) = Neighbours(ranker, world, changes, knowledgeEpoch);
        using var delta = editor.ComputeDelta(model, tokenizer, changes.Select(c => RequestFor(world, c)).ToList());
        delta.Apply(model);
        try { return Measure(ranker, world, changes, neighbours, before); }
        finally { delta.Revert(model); }
    }

    /// <summary>Neighbours of every edited fact (never an edited fact itself) and the unedited model's answers to them.</summary>
    static (List<RankingItem> Items, List<string> Before) Neighbours(CandidateRanker ranker, World world, IReadOnlyList<FactChange> changes, int knowledgeEpoch)
    {
        var edited = changes.Select(c => (c.Subject, c.Relation)).ToHashSet();
        var items = changes.SelectMany(c => EvalSets.NeighborhoodQueries(world, c.Subject, c.Relation, knowledgeEpoch, max: 5))
            .Where(q => !edited.Contains((q.Subject, q.Relation))).DistinctBy(q => q.Prompt).Select(q => q.ToRankingItem()).ToList();
        return (items, ranker.Rank(items).Select(a => a.Top).ToList());
    }

    static SequentialPoint Measure(CandidateRanker ranker, World world, IReadOnlyList<FactChange> edits, List<RankingItem> neighbours, List<string> before)
    {
        double Hit1(IEnumerable<RankingItem> items)
        {
            var list = items.ToList();
            return list.Count == 0 ? double.NaN : ranker.Rank(list).Average(a => a.Hit1 ? 1.0 : 0.0);
        }
        var reliability = Hit1(edits.Select(c =>
        {
            var request = RequestFor(world, c);
            return new RankingItem("reliability", request.Prompt, " " + request.TargetNew, world.CandidateAnswers(RelationCatalogue.Get(c.Relation).ObjectType));
        }));
        var generalization = Hit1(edits.SelectMany(c => EvalSets.ForChange(world, c, heldOut: true)).Select(q => q.ToRankingItem()));
        var after = ranker.Rank(neighbours).Select(a => a.Top).ToList();
        double locality = neighbours.Count == 0 ? double.NaN : before.Zip(after).Average(p => p.First == p.Second ? 1.0 : 0.0);
        return new SequentialPoint(edits.Count, reliability, generalization, locality);
    }

    /// <summary>
    /// Sequential editing: each edit is computed on the model as the previous edits left it and stays
    /// applied. After 1, 10, 100, … and the last edit, the metrics are measured over all edits so far;
    /// locality compares the neighbours of every edited fact (never an edited fact itself) with the
    /// unedited model's answers. ROME is known to degrade under many sequential edits (Gupta et al. 2024).
    /// The model is restored exactly at the end (deltas reverted in reverse order).
    /// </summary>
    public static IReadOnlyList<SequentialPoint> Sequential(Gpt model, ITextTokenizer tokenizer, World world, IReadOnlyList<FactChange> changes,
        IKnowledgeEditor editor, int knowledgeEpoch, Action<int>? progress = null)
    {
        var ranker = new CandidateRanker(model, tokenizer);
        var (neighbours, before) = Neighbours(ranker, world, changes, knowledgeEpoch);
        return EditSequentially(model, tokenizer, changes.Select(c => RequestFor(world, c)).ToList(), editor,
            edited => Measure(ranker, world, changes.Take(edited).ToList(), neighbours, before), progress);
    }

    /// <summary>
    /// The sequential-editing loop shared by every curve: applies <paramref name="requests"/> one after another,
    /// each computed on the model the previous edits left, calls <paramref name="measure"/> with the number of edits
    /// applied at each of <see cref="CurveSizes"/>, and restores the model exactly (deltas reverted in reverse order).
    /// </summary>
    public static IReadOnlyList<T> EditSequentially<T>(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests, IKnowledgeEditor editor,
        Func<int, T> measure, Action<int>? progress = null)
    {
        var sizes = CurveSizes(requests.Count);
        var applied = new List<WeightDelta>();
        var points = new List<T>();
        try
        {
            foreach (var request in requests)
            {
                var delta = editor.ComputeDelta(model, tokenizer, [request]);
                delta.Apply(model);
                applied.Add(delta);
                progress?.Invoke(applied.Count);
                if (sizes.Contains(applied.Count)) points.Add(measure(applied.Count));
            }
        }
        finally { RevertAll(model, applied); }
        return points;
    }

    /// <summary>Reverts <paramref name="applied"/> deltas newest first (the only order that restores the weights bit for bit) and disposes them.</summary>
    public static void RevertAll(Gpt model, IReadOnlyList<WeightDelta> applied)
    {
        for (int i = applied.Count - 1; i >= 0; i--)
        {
            applied[i].Revert(model);
            applied[i].Dispose();
        }
    }

    /// <summary>Where sequential curves are measured: after 1, 10, 100, … and all <paramref name="updates"/>.</summary>
    public static IReadOnlySet<int> CurveSizes(int updates)
    {
        var sizes = new SortedSet<int> { updates };
        for (int n = 1; n < updates; n *= 10) sizes.Add(n);
        return sizes;
    }

    /// <summary>The edit request for a world change: the first training statement prompt of the relation.</summary>
    public static EditRequest RequestFor(World world, FactChange change)
    {
        var relation = RelationCatalogue.Get(change.Relation);
        var subject = world[change.Subject].Name;
        var template = world.CanonicalStatement(relation);
        return new EditRequest(template.Prompt(subject), subject, world[change.NewObject].Name);
    }

    /// <param name="knowledgeEpoch">The epoch the model was trained on (its "old" world).</param>
    public static EditScore Evaluate(Gpt model, ITextTokenizer tokenizer, World world, FactChange change, IKnowledgeEditor editor, int knowledgeEpoch)
    {
        var ranker = new CandidateRanker(model, tokenizer);
        var request = RequestFor(world, change);
        var relation = RelationCatalogue.Get(change.Relation);
        var candidates = world.CandidateAnswers(relation.ObjectType);
        var reliabilityItem = new RankingItem("reliability", request.Prompt, " " + request.TargetNew, candidates);
        var paraphrases = EvalSets.ForChange(world, change, heldOut: true).Select(q => q.ToRankingItem()).ToList();
        var neighbours = EvalSets.NeighborhoodQueries(world, change.Subject, change.Relation, knowledgeEpoch).Select(q => q.ToRankingItem()).ToList();
        var portability = RelationCatalogue.TwoHop.Where(t => t.First == change.Relation).Select(t =>
        {
            var end = world.ObjectOf(change.NewObject, t.Second, knowledgeEpoch);
            var second = RelationCatalogue.Get(t.Second);
            return new RankingItem("portability", t.Templates[0].Prompt(world[change.Subject].Name), " " + world[end].Name, world.CandidateAnswers(second.ObjectType));
        }).ToList();

        var before = ranker.Rank(neighbours).Select(a => a.Top).ToList();
        var clock = Stopwatch.StartNew();
        using var delta = editor.ComputeDelta(model, tokenizer, [request]);
        delta.Apply(model);
        double seconds = clock.Elapsed.TotalSeconds;
        try
        {
            double Hit1(IReadOnlyList<RankingItem> items) => items.Count == 0 ? double.NaN : ranker.Rank(items).Average(a => a.Hit1 ? 1.0 : 0.0);
            var after = ranker.Rank(neighbours).Select(a => a.Top).ToList();
            return new EditScore(
                Hit1([reliabilityItem]),
                Hit1(paraphrases),
                neighbours.Count == 0 ? double.NaN : before.Zip(after).Average(p => p.First == p.Second ? 1.0 : 0.0),
                Hit1(portability),
                portability.Count,
                seconds,
                delta.Bytes);
        }
        finally
        {
            delta.Revert(model);
        }
    }
}
