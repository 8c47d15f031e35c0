namespace Evolution.Mechanisms;

/// <summary>
/// Averages causal traces of prompts with different lengths by token category, as in ROME's
/// figures (Meng et al. 2022, Fig. 1–2): first subject token, middle subject tokens, last subject
/// token, first token after the subject, further tokens, last token.
/// </summary>
public static class TraceAggregation
{
    public static readonly IReadOnlyList<string> Categories =
        ["first_subject", "middle_subject", "last_subject", "first_subsequent", "further", "last"];

    /// <summary>Category of a position, or -1 for positions before the subject.</summary>
    public static int CategoryOf(int position, int subjectStart, int subjectEnd, int last)
    {
        if (position == last) return 5;
        if (position < subjectStart) return -1;
        if (position == subjectEnd - 1) return 2;
        if (position == subjectStart) return 0;
        if (position < subjectEnd) return 1;
        return position == subjectEnd ? 3 : 4;
    }

    /// <summary>Mean indirect effect per (layer, category) over the traces; NaN where no trace had that category.</summary>
    public static double[,] MeanIndirectEffect(IReadOnlyList<CausalTrace> traces)
    {
        int layers = traces[0].Layers;
        var sum = new double[layers, Categories.Count];
        var count = new int[layers, Categories.Count];
        foreach (var trace in traces)
            for (int l = 0; l < layers; l++)
            {
                var perCategory = new Dictionary<int, List<double>>();
                for (int t = 0; t < trace.Positions; t++)
                {
                    int c = CategoryOf(t, trace.SubjectStart, trace.SubjectEnd, trace.Positions - 1);
                    if (c < 0) continue;
                    if (!perCategory.TryGetValue(c, out var list)) perCategory[c] = list = [];
                    list.Add(trace.IndirectEffect(l, t));
                }
                foreach (var (c, values) in perCategory)
                {
                    sum[l, c] += values.Average();
                    count[l, c]++;
                }
            }
        var mean = new double[layers, Categories.Count];
        for (int l = 0; l < layers; l++)
            for (int c = 0; c < Categories.Count; c++)
                mean[l, c] = count[l, c] == 0 ? double.NaN : sum[l, c] / count[l, c];
        return mean;
    }
}
