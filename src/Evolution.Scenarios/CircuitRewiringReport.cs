using System.Globalization;
using System.Text;
using Evolution.Agents;
using ScottPlot;

namespace Evolution.Scenarios;

/// <summary>The circuit section of the update comparison (<see cref="EditCircuits"/>): a Markdown table and one bar plot.</summary>
public static class CircuitRewiringReport
{
    public static void Markdown(EditCircuitReport report, StringBuilder text)
    {
        string fraction = (100 * report.EdgeFraction).ToString("0.#", CultureInfo.InvariantCulture);
        text.AppendLine().AppendLine("## Circuits before and after the edits").AppendLine();
        text.AppendLine($"The first {report.Facts} edited facts, each fact's EAP-IG circuit ({fraction}% of {report.Edges} edges, {report.Selection} selection, "
            + $"{report.IgSteps} IG steps) before the update (the untouched model, old object) and after it (the edited model, new object), as Yao et al. "
            + "2024 compare ROME and fine-tuning. Same target: the new object's circuit on the untouched and on the edited model. First top: mean layer "
            + "where the logit lens first ranks the object top at the last token (−1 the embeddings), and in how many traced facts it never does. "
            + "Movers: mover heads per circuit (old object before, new object after). The untouched row is the untouched model answering the new object.").AppendLine();
        text.AppendLine("| channel | applied | traced | edge Jaccard | weighted overlap | same-target Jaccard | edges gained | edges lost | movers | new object first top | old object first top |");
        text.AppendLine("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |");
        foreach (var (channel, c) in Rows(report))
            text.AppendLine($"| {channel} | {c.Applied} | {c.Traced}/{c.Facts} | {F(c.EdgeJaccard)} | {F(c.WeightedOverlap)} | {F(c.SameTargetJaccard)} | "
                + $"{F(c.EdgesGained)} | {F(c.EdgesLost)} | {F(c.MoversBefore)} → {F(c.MoversAfter)} | {Top(c.NewObject.Before)} → {Top(c.NewObject.After)} | "
                + $"{Top(c.OldObject.Before)} → {Top(c.OldObject.After)} |");
        text.AppendLine().AppendLine("| channel | nodes most often gained (facts) | nodes most often lost (facts) |").AppendLine("| --- | --- | --- |");
        foreach (var (channel, c) in Rows(report))
            text.AppendLine($"| {channel} | {Nodes(c.NodesGained)} | {Nodes(c.NodesLost)} |");
    }

    /// <summary>Edge Jaccard, weighted overlap and same-target Jaccard per channel, the untouched model first; returns the file written.</summary>
    public static string Plot(EditCircuitReport report, string plots)
    {
        var rows = Rows(report).ToList();
        (string Name, Func<CircuitRewiring, double> Pick)[] series =
            [("edge Jaccard", c => c.EdgeJaccard), ("weighted overlap", c => c.WeightedOverlap), ("same-target Jaccard", c => c.SameTargetJaccard)];
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int s = 0; s < series.Length; s++)
        {
            var bars = rows.Select((row, i) => new Bar
            {
                Position = i * (series.Length + 1) + s, Value = double.IsNaN(series[s].Pick(row.Value)) ? 0 : series[s].Pick(row.Value), FillColor = palette.GetColor(s),
            }).ToList();
            plot.Add.Bars(bars).LegendText = series[s].Name;
        }
        plot.Axes.Bottom.SetTicks(rows.Select((_, i) => i * (series.Length + 1) + (series.Length - 1) / 2.0).ToArray(), rows.Select(r => r.Key).ToArray());
        ComparisonReport.Finish(plot, "channel", "overlap", $"Circuits before (old object) and after (new object), {report.Facts} facts");
        return ComparisonReport.Save(plot, plots, "circuits.png");
    }

    static IEnumerable<KeyValuePair<string, CircuitRewiring>> Rows(EditCircuitReport report) =>
        report.Channels.Prepend(KeyValuePair.Create("untouched", report.Untouched));

    static string F(double v) => ComparisonReport.Format(v);

    static string Top(FirstTop top) => $"{F(top.MeanLayer)} ({top.ByLayer.GetValueOrDefault("never")} never)";

    static string Nodes(IReadOnlyList<NodeCount> nodes) => nodes.Count == 0 ? "none" : string.Join(", ", nodes.Select(n => $"{n.Node} ({n.Facts})"));
}
