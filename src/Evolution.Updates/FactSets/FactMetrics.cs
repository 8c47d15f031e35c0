using Evolution.Core.Model;
using Evolution.Core.Text;

namespace Evolution.Updates.FactSets;

/// <summary>
/// EasyEdit's metrics (Yao et al. 2023, "Editing Large Language Models: Problems, Methods, and Opportunities"; EasyEdit's
/// <c>compute_rewrite_or_rephrase_quality</c> and <c>compute_locality_quality</c>), teacher-forced token accuracies:
/// reliability, the share of the new object's tokens that are the argmax next token after the rewrite prompt (and the
/// object's tokens before them); generalisation, the same after the paraphrases; locality, the share of the neighbourhood
/// prompts' next-token argmaxes (over their true objects' positions) that the edit left as the unedited model had them.
/// Each is averaged over a record's prompts, then over records. NaN where a record has no such prompt.
/// </summary>
public sealed record TokenAccuracies(double Reliability, double Generalization, double Locality)
{
    public static TokenAccuracies Mean(IReadOnlyList<TokenAccuracies> all) => new(
        EditMetrics.MeanDefined(all.Select(a => a.Reliability)), EditMetrics.MeanDefined(all.Select(a => a.Generalization)),
        EditMetrics.MeanDefined(all.Select(a => a.Locality)));
}

/// <summary>One record's two metric families after (or without) an edit: the papers' success rates and EasyEdit's token accuracies.</summary>
public sealed record FactScores(SuccessRates Success, TokenAccuracies Accuracy)
{
    /// <summary>Each family averaged over records, as ROME's <c>summarize.py</c> and EasyEdit average per-case numbers.</summary>
    public static FactScores Mean(IReadOnlyList<FactScores> all) =>
        new(SuccessRates.Mean(all.Select(s => s.Success).ToList()), TokenAccuracies.Mean(all.Select(s => s.Accuracy).ToList()));
}

/// <summary>
/// Both metric families of a <see cref="FactRecord"/>, read off one teacher-forced pass over its rows (<see cref="Rows"/>).
/// The papers' family (<see cref="SuccessRates"/>; Meng et al. 2022, ROME §3.2): efficacy, P(new) &gt; P(true) after the
/// rewrite prompt; paraphrase success, the share of paraphrases where it holds; neighbourhood success, the share of
/// neighbourhood prompts where P(truth) &gt; P(new); magnitudes, the mean P(new) − P(true) and P(truth) − P(new). P is the
/// sequence probability of the multi-token object, exp Σ_j log p(t_j | prompt, t_&lt;j), as the paper defines it; ROME's
/// released code (<c>test_batch_prediction</c>) instead divides the sum by the object's token count, which decides
/// differently only when the two objects have different token counts.
/// </summary>
public static class FactMetrics
{
    /// <summary>
    /// The (prompt, target) rows a record is scored on, in the order <see cref="Score"/> reads them: the rewrite prompt and
    /// each paraphrase with the new then the true object, then each neighbour with its truth then the new object.
    /// </summary>
    public static IReadOnlyList<(string Prompt, string Target)> Rows(FactRecord record) =>
        record.Paraphrases.Prepend(record.Prompt).SelectMany(p => new[] { (p, record.TargetNew), (p, record.TargetTrue) })
            .Concat(record.Neighbours.SelectMany(n => new[] { (n.Prompt, n.Truth), (n.Prompt, record.TargetNew) })).ToList();

    /// <summary>Scores <see cref="Rows"/> with the model as it is now.</summary>
    public static IReadOnlyList<TargetScore> Read(Gpt model, ITextTokenizer tokenizer, FactRecord record) =>
        TeacherForcing.Score(model, tokenizer, Rows(record));

    /// <summary>
    /// The neighbours' argmaxes over their truths' positions in <paramref name="scores"/> (<see cref="Rows"/> order): what
    /// locality compares an edited model's with.
    /// </summary>
    public static IReadOnlyList<int[]> NeighbourArgmax(FactRecord record, IReadOnlyList<TargetScore> scores) =>
        record.Neighbours.Select((_, i) => scores[2 * (1 + record.Paraphrases.Count) + 2 * i].Argmax).ToList();

    /// <summary>Both families from <paramref name="scores"/> (<see cref="Rows"/> order) and the unedited model's neighbour argmaxes.</summary>
    public static FactScores Score(FactRecord record, IReadOnlyList<TargetScore> scores, IReadOnlyList<int[]> neighbourArgmaxBefore)
    {
        int direct = 1 + record.Paraphrases.Count;
        if (scores.Count != 2 * (direct + record.Neighbours.Count)) throw new ArgumentException($"{scores.Count} scores for record {record.Id}'s {2 * (direct + record.Neighbours.Count)} rows");
        // Per direct prompt: P(new) − P(true) and the new object's token accuracy.
        var lifts = Enumerable.Range(0, direct).Select(i => (Lift: Math.Exp(scores[2 * i].LogProb) - Math.Exp(scores[2 * i + 1].LogProb),
            Wins: scores[2 * i].LogProb > scores[2 * i + 1].LogProb, scores[2 * i].TokenAccuracy)).ToList();
        var neighbours = record.Neighbours.Select((n, i) => (Truth: scores[2 * (direct + i)], New: scores[2 * (direct + i) + 1], Before: neighbourArgmaxBefore[i], n)).ToList();
        // A neighbour whose truth is the new object cannot tell a kept fact from a written one (EditMetrics does the same).
        var margins = neighbours.Where(x => x.n.Truth != record.TargetNew)
            .Select(x => (Margin: Math.Exp(x.Truth.LogProb) - Math.Exp(x.New.LogProb), Wins: x.Truth.LogProb > x.New.LogProb)).ToList();
        var paraphrases = lifts.Skip(1).ToList();
        var success = new SuccessRates(
            lifts[0].Wins ? 1 : 0, Share(paraphrases.Select(p => p.Wins)), Share(margins.Select(m => m.Wins)),
            lifts[0].Lift, Mean(paraphrases.Select(p => p.Lift)), Mean(margins.Select(m => m.Margin)));
        var accuracy = new TokenAccuracies(lifts[0].TokenAccuracy, Mean(paraphrases.Select(p => p.TokenAccuracy)),
            Mean(neighbours.Select(x => x.Truth.Argmax.Zip(x.Before).Count(a => a.First == a.Second) / (double)x.Before.Length)));
        return new FactScores(success, accuracy);
    }

    static double Share(IEnumerable<bool> hits) => Mean(hits.Select(h => h ? 1.0 : 0.0));

    static double Mean(IEnumerable<double> values) => values.DefaultIfEmpty(double.NaN).Average();
}
