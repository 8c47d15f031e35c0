using Evolution.Core.Evaluation;

namespace Evolution.Core.Worlds;

/// <summary>One evaluation question: <c>Prompt + Answer</c> is the full text; <see cref="Candidates"/> holds every possible answer.</summary>
public sealed record Query(string Set, int Subject, string Relation, string Prompt, string Answer, IReadOnlyList<string> Candidates)
{
    public RankingItem ToRankingItem() => new($"{Set}/{Relation}", Prompt, Answer, Candidates);
}

/// <summary>
/// Evaluation sets (the EasyEdit/CounterFact families): training-template queries, held-out
/// paraphrases, neighbourhood facts (same relation other subjects, same subject other relations),
/// and two-hop queries on subjects whose composition was not trained.
/// </summary>
public static class EvalSets
{
    public const string Train = "train", Paraphrase = "paraphrase", TwoHop = "two_hop", Neighborhood = "neighborhood";

    /// <summary>One query per known fact, with a random training query template (seeded by the world).</summary>
    public static IReadOnlyList<Query> TrainQueries(World world, DataMix mix) => PerFact(world, mix, heldOut: false);

    /// <summary>One query per known fact, with a random held-out template (never seen in training).</summary>
    public static IReadOnlyList<Query> ParaphraseQueries(World world, DataMix mix) => PerFact(world, mix, heldOut: true);

    static IReadOnlyList<Query> PerFact(World world, DataMix mix, bool heldOut)
    {
        var random = new Random(world.Spec.Seed + (heldOut ? 2 : 1));
        var covered = Coverage.Subjects(world, mix);
        var queries = new List<Query>();
        foreach (var fact in world.FactsAt(mix.Epoch).Where(f => covered.Contains(f.Subject)))
        {
            var relation = RelationCatalogue.Get(fact.Relation);
            var templates = (heldOut ? world.HeldOutTemplates(relation) : world.TrainingTemplates(relation)).Where(t => t.IsQuery).ToList();
            if (templates.Count == 0) continue;
            queries.Add(Make(world, heldOut ? Paraphrase : Train, fact, templates[random.Next(templates.Count)]));
        }
        return queries;
    }

    /// <summary>Two-hop queries for the subjects whose composition is not in training (and whose hops are known).</summary>
    public static IReadOnlyList<Query> TwoHopQueries(World world, DataMix mix)
    {
        var random = new Random(world.Spec.Seed + 3);
        var covered = Coverage.Subjects(world, mix);
        var queries = new List<Query>();
        foreach (var twoHop in RelationCatalogue.TwoHop)
        {
            var trained = Coverage.TwoHopTraining(world, mix, twoHop);
            var first = RelationCatalogue.Get(twoHop.First);
            var second = RelationCatalogue.Get(twoHop.Second);
            foreach (var subject in world.OfType(first.SubjectType).Where(e => covered.Contains(e.Id) && !trained.Contains(e.Id)))
            {
                int middle = world.ObjectOf(subject.Id, twoHop.First, mix.Epoch);
                if (!covered.Contains(middle)) continue;
                int end = world.ObjectOf(middle, twoHop.Second, mix.Epoch);
                var template = twoHop.Templates[random.Next(twoHop.Templates.Count)];
                queries.Add(new Query(TwoHop, subject.Id, twoHop.Name, template.Prompt(subject.Name), " " + world[end].Name, world.CandidateAnswers(second.ObjectType)));
            }
        }
        return queries;
    }

    /// <summary>
    /// Facts that share the subject or the relation with (subject, relation), never that fact itself:
    /// up to <paramref name="max"/> of each kind, with training templates. Locality is measured on these.
    /// </summary>
    public static IReadOnlyList<Query> NeighborhoodQueries(World world, int subject, string relation, int epoch, int max = 10)
    {
        var random = new Random(Seeds.Mix(world.Spec.Seed, "neighborhood", subject, relation));
        var facts = world.FactsAt(epoch);
        var sameRelation = facts.Where(f => f.Relation == relation && f.Subject != subject).ToArray();
        random.Shuffle(sameRelation);
        var sameSubject = facts.Where(f => f.Subject == subject && f.Relation != relation).ToArray();
        random.Shuffle(sameSubject);
        return sameRelation.Take(max).Concat(sameSubject.Take(max)).Select(f =>
        {
            var templates = world.TrainingTemplates(RelationCatalogue.Get(f.Relation)).Where(t => t.IsQuery).ToList();
            return Make(world, Neighborhood, f, templates[random.Next(templates.Count)]);
        }).ToList();
    }

    /// <summary>Every query template (training or held-out) of one fact; <paramref name="answer"/> overrides the object (for edits).</summary>
    public static IReadOnlyList<Query> ForFact(World world, int subject, string relationName, int epoch, bool heldOut, int? answer = null)
    {
        var relation = RelationCatalogue.Get(relationName);
        var fact = new Fact(subject, relationName, answer ?? world.ObjectOf(subject, relationName, epoch));
        var templates = heldOut ? world.HeldOutTemplates(relation) : world.TrainingTemplates(relation);
        return templates.Where(t => t.IsQuery).Select(t => Make(world, heldOut ? Paraphrase : Train, fact, t)).ToList();
    }

    /// <summary>Queries whose answer is the new object of a change.</summary>
    public static IReadOnlyList<Query> ForChange(World world, FactChange change, bool heldOut) =>
        ForFact(world, change.Subject, change.Relation, change.Epoch, heldOut, change.NewObject);

    static Query Make(World world, string set, Fact fact, Template template)
    {
        var relation = RelationCatalogue.Get(fact.Relation);
        return new Query(set, fact.Subject, fact.Relation, template.Prompt(world[fact.Subject].Name), " " + world[fact.Object].Name,
            world.CandidateAnswers(relation.ObjectType));
    }
}
