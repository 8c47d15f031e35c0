using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;

namespace Evolution.Updates;

/// <summary>
/// EasyEdit's rates over a set of changes (Yao et al. 2023, "Editing Large Language Models"): reliability (the edit
/// prompt gives the new object), generalisation (held-out paraphrases do too), locality (neighbourhood facts keep the
/// untouched model's answer), portability (two-hop questions through the changed fact give the composed new answer).
/// Locality is also split by kind of neighbour: <see cref="RelationLocality"/> over facts of the changed relation about
/// other subjects (CounterFact's neighbourhood prompts) and <see cref="SubjectLocality"/> over the changed subject's
/// other relations, which an edit written at the subject's representation (ROME, MEMIT at the subject) can carry along.
/// NaN where a set is empty (e.g. no composition starts with the relation). <see cref="Success"/> holds the other family,
/// the papers' success rates, measured on the same answers.
/// </summary>
public sealed record EditRates(double Reliability, double Generalization, double Locality, double Portability, int PortabilityQueries,
    double RelationLocality, double SubjectLocality, SuccessRates Success);

/// <summary>
/// The success rates ROME, MEMIT and AlphaEdit report on CounterFact (Meng et al. 2022, §3.2): efficacy, the share of edit
/// prompts where P(new) &gt; P(old); paraphrase success, the same on held-out paraphrases; neighbourhood success, the share
/// of neighbourhood prompts where the neighbour's true object is more probable than the edit's new object. The
/// magnitudes are the mean differences P(new) − P(old) and P(true) − P(new). They differ from EasyEdit's ranked rates
/// (<see cref="EditRates"/>): an edit that lifts the new object above the old one succeeds even when a third candidate
/// still ranks first. Probabilities are over the question's candidates (the comparison is the same as over sequence
/// probabilities; the magnitudes are on that scale). Neighbourhood prompts are CounterFact's kind (same relation, other
/// subjects) and our same-subject ones alike, where the new object is a candidate and is not the neighbour's true object.
/// NaN where a set is empty.
/// </summary>
public sealed record SuccessRates(double Efficacy, double ParaphraseSuccess, double NeighborhoodSuccess,
    double EfficacyMagnitude, double ParaphraseMagnitude, double NeighborhoodMagnitude)
{
    /// <summary>Each rate averaged over the sets where it is defined.</summary>
    public static SuccessRates Mean(IReadOnlyList<SuccessRates> all) => new(
        EditMetrics.MeanDefined(all.Select(r => r.Efficacy)), EditMetrics.MeanDefined(all.Select(r => r.ParaphraseSuccess)),
        EditMetrics.MeanDefined(all.Select(r => r.NeighborhoodSuccess)), EditMetrics.MeanDefined(all.Select(r => r.EfficacyMagnitude)),
        EditMetrics.MeanDefined(all.Select(r => r.ParaphraseMagnitude)), EditMetrics.MeanDefined(all.Select(r => r.NeighborhoodMagnitude)));
}

/// <summary>The scoring of answers against <see cref="EditProbe"/>s, the same for every entry point and answerer.</summary>
public static class EditMetrics
{
    /// <summary>
    /// Bare weights answering: the candidate of highest sequence log-probability (the first on a tie), which is what
    /// an agent without memory answers (its softmax over the same scores keeps the order), from one batched call.
    /// </summary>
    public static ProbeAnswerer Weights(Gpt model, ITextTokenizer tokenizer)
    {
        var ranker = new CandidateRanker(model, tokenizer);
        return questions =>
        {
            if (questions.Count == 0) return [];
                var scores = ranker.ScoreMany(questions.Select(q => (q.Prompt, q.Candidates)).ToList());
            return questions.Select((q, i) =>
            {
                int top = 0;
                for (int c = 1; c < scores[i].Length; c++) if (scores[i][c] > scores[i][top]) top = c;
                return new ProbeAnswer(q.Candidates[top], CandidateRanker.Softmax(scores[i]));
            }).ToList();
        };
    }

    /// <summary>
    /// Every question the rates of <paramref name="set"/> need, in the order <see cref="Score"/> reads the answers: each
    /// probe's direct questions (reliability, then paraphrases), the portability questions, then the neighbours,
    /// each neighbour once even when several changes share it.
    /// </summary>
    public static IReadOnlyList<ProbeQuestion> Questions(IReadOnlyList<EditProbe> set) =>
        set.SelectMany(p => p.Direct).Concat(set.SelectMany(p => p.Portability.Select(x => x.Question))).Concat(Neighbours(set).Select(n => n.Question)).ToList();

    /// <summary>Rates from the answers to <see cref="Questions"/> (same order).</summary>
    public static EditRates Score(IReadOnlyList<EditProbe> set, IReadOnlyList<ProbeAnswer> replies)
    {
        var answers = replies.Select(r => r.Answer).ToList();
        var direct = set.SelectMany(p => p.Direct.Select((q, i) => (p.NewAnswer, IsReliability: i == 0, Probe: p, Question: q))).ToList();
        var portability = set.SelectMany(p => p.Portability).ToList();
        var neighbours = Neighbours(set);
        if (answers.Count != direct.Count + portability.Count + neighbours.Count)
            throw new ArgumentException($"{answers.Count} answers for {direct.Count + portability.Count + neighbours.Count} questions");
        var directAnswers = answers.Take(direct.Count).ToList();
        var portabilityAnswers = answers.Skip(direct.Count).Take(portability.Count);
        var neighbourAnswers = answers.Skip(direct.Count + portability.Count).ToList();
        var kept = neighbours.Zip(neighbourAnswers, (n, answer) => (n.SameSubject, Kept: answer == n.Before)).ToList();
        var success = Success(direct.Zip(replies.Take(direct.Count)).Select(x => (x.First.Probe, x.First.Question, x.First.IsReliability, x.Second)).ToList(),
            neighbours.Zip(replies.Skip(direct.Count + portability.Count)).Select(x => (x.First, x.Second)).ToList());
        return new EditRates(
            Share(direct.Zip(directAnswers).Where(x => x.First.IsReliability).Select(x => x.Second == x.First.NewAnswer)),
            Share(direct.Zip(directAnswers).Where(x => !x.First.IsReliability).Select(x => x.Second == x.First.NewAnswer)),
            Share(kept.Select(k => k.Kept)),
            Share(portability.Zip(portabilityAnswers).Select(x => x.Second == x.First.Answer)),
            portability.Count,
            Share(kept.Where(k => !k.SameSubject).Select(k => k.Kept)),
            Share(kept.Where(k => k.SameSubject).Select(k => k.Kept)),
            success);
    }

    /// <summary>
    /// <see cref="SuccessRates"/>: P(new) against P(old) on the direct questions, P(true) against the edit's P(new) on the neighbours
    /// where both are candidates and differ (a neighbour shared by several changes is compared with the first change's new object).
    /// </summary>
    static SuccessRates Success(IReadOnlyList<(EditProbe Probe, ProbeQuestion Question, bool IsReliability, ProbeAnswer Reply)> direct,
        IReadOnlyList<((ProbeQuestion Question, string Before, string Truth, bool SameSubject, string NewAnswer) Neighbour, ProbeAnswer Reply)> neighbours)
    {
        var lifts = direct.Select(d => (d.IsReliability, Lift: d.Reply.ProbabilityOf(d.Question, d.Probe.NewAnswer) - d.Reply.ProbabilityOf(d.Question, d.Probe.OldAnswer)))
            .Where(d => d.Lift is not null).Select(d => (d.IsReliability, Lift: d.Lift!.Value)).ToList();
        var margins = neighbours.Where(n => n.Neighbour.Truth != n.Neighbour.NewAnswer)
            .Select(n => n.Reply.ProbabilityOf(n.Neighbour.Question, n.Neighbour.Truth) - n.Reply.ProbabilityOf(n.Neighbour.Question, n.Neighbour.NewAnswer))
            .OfType<double>().ToList();
        var efficacy = lifts.Where(l => l.IsReliability).Select(l => l.Lift).ToList();
        var paraphrase = lifts.Where(l => !l.IsReliability).Select(l => l.Lift).ToList();
        return new SuccessRates(Share(efficacy.Select(l => l > 0)), Share(paraphrase.Select(l => l > 0)), Share(margins.Select(m => m > 0)),
            MeanOf(efficacy), MeanOf(paraphrase), MeanOf(margins));
    }

    static double MeanOf(IReadOnlyList<double> values) => values.DefaultIfEmpty(double.NaN).Average();

    /// <summary>Asks <paramref name="answer"/> every question of <paramref name="set"/> in one call and scores the answers.</summary>
    public static EditRates Measure(IReadOnlyList<EditProbe> set, ProbeAnswerer answer) => Score(set, answer(Questions(set)));

    /// <summary>Single-edit numbers (EasyEdit): each rate averaged over the edits where it is defined.</summary>
    public static EditRates Mean(IReadOnlyList<EditRates> all) => new(
        MeanDefined(all.Select(r => r.Reliability)), MeanDefined(all.Select(r => r.Generalization)), MeanDefined(all.Select(r => r.Locality)),
        MeanDefined(all.Select(r => r.Portability)), all.Sum(r => r.PortabilityQueries),
        MeanDefined(all.Select(r => r.RelationLocality)), MeanDefined(all.Select(r => r.SubjectLocality)), SuccessRates.Mean(all.Select(r => r.Success).ToList()));

    /// <summary>Mean of the values that are not NaN; NaN when none is.</summary>
    public static double MeanDefined(IEnumerable<double> values) => values.Where(v => !double.IsNaN(v)).DefaultIfEmpty(double.NaN).Average();

    /// <summary>Each neighbour once; <c>SameSubject</c> when it asks about the subject of the change that chose it.</summary>
    static List<(ProbeQuestion Question, string Before, string Truth, bool SameSubject, string NewAnswer)> Neighbours(IReadOnlyList<EditProbe> set) =>
        set.SelectMany(p => p.Neighbours.Select(n => (n.Question, n.Before, n.Truth, SameSubject: n.Question.Subject == p.Change.Subject, p.NewAnswer)))
            .DistinctBy(n => n.Question.Prompt).ToList();

    static double Share(IEnumerable<bool> hits) => hits.Select(h => h ? 1.0 : 0.0).DefaultIfEmpty(double.NaN).Average();
}
