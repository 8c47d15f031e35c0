namespace Evolution.Core.Evaluation;

/// <summary>Hit@1, Hit@10 and mean reciprocal rank over a set of ranked answers.</summary>
public sealed record RankingMetrics(int Count, double Hit1, double Hit10, double Mrr)
{
    public static RankingMetrics Of(IReadOnlyCollection<RankedAnswer> answers) =>
        answers.Count == 0
            ? new RankingMetrics(0, double.NaN, double.NaN, double.NaN)
            : new RankingMetrics(answers.Count,
                answers.Average(a => a.Hit1 ? 1.0 : 0.0),
                answers.Average(a => a.Hit10 ? 1.0 : 0.0),
                answers.Average(a => 1.0 / a.Rank));

    /// <summary>Metrics per group (e.g. per relation or per eval set), ordered by group name.</summary>
    public static SortedDictionary<string, RankingMetrics> ByGroup(IEnumerable<RankedAnswer> answers, Func<RankedAnswer, string> group)
    {
        var result = new SortedDictionary<string, RankingMetrics>(StringComparer.Ordinal);
        foreach (var g in answers.GroupBy(group)) result[g.Key] = Of(g.ToList());
        return result;
    }
}
