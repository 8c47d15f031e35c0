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

public static class EditEvaluation
{
    /// <summary>The edit request for a world change: the first training statement prompt of the relation.</summary>
    public static EditRequest RequestFor(World world, FactChange change)
    {
        var relation = RelationCatalogue.Get(change.Relation);
        var subject = world[change.Subject].Name;
        var template = world.TrainingTemplates(relation).First(t => t.Kind == TemplateKind.Statement && t.IsQuery);
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
