using Evolution.Core.Worlds;

namespace Evolution.Updates;

/// <summary>A closed-set question about one fact; the candidates carry their leading space.</summary>
public sealed record ProbeQuestion(int Subject, string Relation, string Prompt, IReadOnlyList<string> Candidates);

/// <summary>
/// One answer to a <see cref="ProbeQuestion"/>: the chosen candidate and the probability of every candidate (in the
/// question's order; a softmax over the candidates' sequence log-probabilities, so comparing two candidates' probabilities
/// is comparing their sequence probabilities, as the papers' success rates do).
/// </summary>
public sealed record ProbeAnswer(string Answer, IReadOnlyList<double> Probabilities)
{
    /// <summary>An answer given with certainty: probability 1 on <paramref name="candidate"/> (scripted answerers).</summary>
    public static ProbeAnswer Sure(ProbeQuestion question, string candidate) =>
        new(candidate, question.Candidates.Select(c => c == candidate ? 1.0 : 0.0).ToList());

    /// <summary>The probability of <paramref name="candidate"/>; null when it is not among <paramref name="question"/>'s candidates.</summary>
    public double? ProbabilityOf(ProbeQuestion question, string candidate)
    {
        for (int i = 0; i < question.Candidates.Count; i++)
            if (question.Candidates[i] == candidate) return Probabilities[i];
        return null;
    }
}

/// <summary>
/// Answers questions, one <see cref="ProbeAnswer"/> per question, in order. Pluggable so that <c>edit</c> can score bare
/// weights (<see cref="EditMetrics.Weights"/>) and <c>compare-updates</c> and scenarios an agent answering through
/// its runtime (with retrieved statements for memory channels); for an agent without memory both choose alike.
/// </summary>
public delegate IReadOnlyList<ProbeAnswer> ProbeAnswerer(IReadOnlyList<ProbeQuestion> questions);

/// <summary>
/// The questions that measure one change (EasyEdit's families), fixed before any update: the edit prompt
/// (reliability), held-out paraphrases (generalisation), two-hop questions through the changed fact with the
/// composed new answer (portability), and neighbourhood facts with the untouched model's answers (locality).
/// <see cref="DirectBefore"/> holds the untouched answers to <see cref="Direct"/>, to tell whether the weights still
/// give the old object. A neighbour carries the untouched model's answer (<c>Before</c>, for locality) and the world's
/// (<c>Truth</c>, for the papers' neighbourhood success).
/// </summary>
public sealed record EditProbe(FactChange Change, EditRequest Request, string NewAnswer, string OldAnswer, ProbeQuestion Reliability,
    IReadOnlyList<ProbeQuestion> Paraphrases, IReadOnlyList<(ProbeQuestion Question, string Answer)> Portability,
    IReadOnlyList<(ProbeQuestion Question, string Before, string Truth)> Neighbours, IReadOnlyList<string> DirectBefore)
{
    /// <summary>The reliability question, then the paraphrases.</summary>
    public IEnumerable<ProbeQuestion> Direct => Paraphrases.Prepend(Reliability);
}

/// <summary>The one probe set of every update experiment (<c>edit</c>, <c>compare-updates</c>, sequential and batch editing).</summary>
public static class EditProbes
{
    /// <summary>
    /// Neighbours per kind and change: up to this many facts of the same relation (other subjects) and this many of
    /// the same subject (other relations), as CounterFact's neighbourhood prompts; a fact changed anywhere in the same
    /// run is never a neighbour, so single, batch and sequential editing all measure locality on facts nobody touched,
    /// and the sets of one run are the same whichever way its edits are applied.
    /// </summary>
    public const int NeighboursPerKind = 10;

    /// <summary>
    /// The probes of <paramref name="changes"/> for a model that knows the world at <paramref name="knowledgeEpoch"/>;
    /// <paramref name="untouched"/> answers the neighbourhood and direct questions before any update (asked once, batched).
    /// </summary>
    public static IReadOnlyList<EditProbe> For(World world, IReadOnlyList<FactChange> changes, int knowledgeEpoch, ProbeAnswerer untouched)
    {
        var changed = changes.Select(c => (c.Subject, c.Relation)).ToHashSet();
        var probes = changes.Select(c => Make(world, c, knowledgeEpoch, changed)).ToList();
        var before = untouched(probes.SelectMany(p => p.Neighbours.Select(n => n.Question).Concat(p.Direct)).ToList());
        int i = 0;
        for (int j = 0; j < probes.Count; j++)
        {
            var p = probes[j];
            var neighbours = p.Neighbours.Select(n => (n.Question, before[i++].Answer, n.Truth)).ToList();
            var direct = p.Direct.Select(_ => before[i++].Answer).ToList();
            probes[j] = p with { Neighbours = neighbours, DirectBefore = direct };
        }
        return probes;
    }

    static EditProbe Make(World world, FactChange change, int epoch, HashSet<(int, string)> changed)
    {
        var relation = RelationCatalogue.Get(change.Relation);
        var request = EditEvaluation.RequestFor(world, change);
        string subject = world[change.Subject].Name;
        static ProbeQuestion Ask(Query q) => new(q.Subject, q.Relation, q.Prompt, q.Candidates);
        var paraphrases = EvalSets.ForChange(world, change, heldOut: true).Select(Ask).ToList();
        var portability = RelationCatalogue.TwoHop.Where(t => t.First == change.Relation).Select(t =>
        {
            var end = world.ObjectOf(change.NewObject, t.Second, epoch);
            var question = new ProbeQuestion(change.Subject, t.Name, t.Templates[0].Prompt(subject), world.CandidateAnswers(RelationCatalogue.Get(t.Second).ObjectType));
            return (question, " " + world[end].Name);
        }).ToList();
        var neighbours = EvalSets.NeighborhoodQueries(world, change.Subject, change.Relation, epoch, NeighboursPerKind)
            .Where(q => !changed.Contains((q.Subject, q.Relation))).Select(q => (Ask(q), "", q.Answer)).ToList();
        var reliability = new ProbeQuestion(change.Subject, change.Relation, request.Prompt, world.CandidateAnswers(relation.ObjectType));
        return new EditProbe(change, request, " " + request.TargetNew, " " + world[change.OldObject].Name, reliability, paraphrases, portability, neighbours, []);
    }
}
