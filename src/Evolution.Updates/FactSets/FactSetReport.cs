using System.Globalization;
using System.Text;

namespace Evolution.Updates.FactSets;

/// <summary>
/// The fact-set comparison as a table, one row per method and both metric families side by side: the papers' success
/// rates and magnitudes (ES, PS, NS; Meng et al. 2022) and EasyEdit's token accuracies (Yao et al. 2023). Shared by
/// compare.md and the printed table so that the two always agree.
/// </summary>
public static class FactSetReport
{
    /// <summary>Column names, in order.</summary>
    public static IReadOnlyList<string> Columns { get; } =
    [
        "efficacy", "paraphrase_success", "neighborhood_success", "efficacy_magnitude", "paraphrase_magnitude", "neighborhood_magnitude",
        "reliability", "generalization", "locality", "seconds_per_edit",
    ];

    /// <summary>A result's cells, in <see cref="Columns"/> order.</summary>
    public static IReadOnlyList<string> Cells(FactSetResult r)
    {
        var (s, a) = (r.Scores.Success, r.Scores.Accuracy);
        return [.. new[] { s.Efficacy, s.ParaphraseSuccess, s.NeighborhoodSuccess, s.EfficacyMagnitude, s.ParaphraseMagnitude, s.NeighborhoodMagnitude,
            a.Reliability, a.Generalization, a.Locality, r.SecondsPerEdit }.Select(Format)];
    }

    public static string Format(double v) =>
        double.IsNaN(v) ? "n/a" : v.ToString(Math.Abs(v) < 0.01 && v != 0 ? "G3" : "F3", CultureInfo.InvariantCulture);

    /// <summary>compare.md: the table and, for sequential runs, each method's curve.</summary>
    public static string Markdown(FactSet facts, IReadOnlyList<FactSetResult> results, string protocol)
    {
        var text = new StringBuilder();
        text.AppendLine($"# Edits of {Path.GetFileName(facts.Path)} ({facts.Format}, {facts.Records.Count} records, {protocol})").AppendLine();
        text.AppendLine($"| method | {string.Join(" | ", Columns)} |").AppendLine($"| --- |{string.Concat(Columns.Select(_ => " ---: |"))}");
        foreach (var r in results) text.AppendLine($"| {r.Method} | {string.Join(" | ", Cells(r))} |");
        text.AppendLine().AppendLine("Efficacy, paraphrase and neighbourhood success: the papers' rates (ROME §3.2), P(new) > P(true) over sequence " +
            "probabilities of the objects, and P(truth) > P(new) on neighbourhood prompts; magnitudes are the mean probability differences. " +
            "Reliability, generalization, locality: EasyEdit's teacher-forced token accuracies (locality: next-token argmaxes unchanged from the unedited model).");
        foreach (var r in results.Where(r => r.Curve.Count > 0))
        {
            text.AppendLine().AppendLine($"## Sequential: {r.Method}").AppendLine();
            text.AppendLine($"| records edited | {string.Join(" | ", Columns.Take(9))} |").AppendLine($"| ---: |{string.Concat(Columns.Take(9).Select(_ => " ---: |"))}");
            foreach (var (records, scores) in r.Curve)
                text.AppendLine($"| {records} | {string.Join(" | ", Cells(r with { Scores = scores }).Take(9))} |");
        }
        return text.ToString();
    }
}
