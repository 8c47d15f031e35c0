using System.Globalization;
using System.Text;
using Evolution.Agents;
using ScottPlot;

namespace Evolution.Scenarios;

/// <summary>The update comparison as files: a method × metric table (Markdown and CSV) and ScottPlot PNGs (bars per metric, sequential curves).</summary>
public static class ComparisonReport
{
    /// <summary>
    /// The table's columns, in order: EasyEdit's rates, the papers' success rates (magnitudes in compare.json), fluency, costs,
    /// then the retrieval-only ones.
    /// </summary>
    public static IReadOnlyList<(string Name, double? Value)> Row(MethodScores s) =>
    [
        ("reliability", s.Reliability), ("generalization", s.Generalization), ("locality", s.Locality), ("portability", s.Portability),
        .. SuccessColumns(s.Success),
        ("fluency", s.Fluency), ("seconds_per_update", s.SecondsPerUpdate), ("seconds_per_query", s.SecondsPerQuery),
        ("bytes_stored", s.BytesStored), ("bytes_per_update", s.BytesPerUpdate), ("recall_at_k", s.RecallAtK), ("recall_at_5", s.RecallAt5),
        ("accuracy_when_retrieved", s.AccuracyWhenRetrieved), ("memorization_ratio", s.MemorizationRatio),
    ];

    /// <summary>The papers' family (<see cref="Updates.SuccessRates"/>) as table columns.</summary>
    static IReadOnlyList<(string Name, double? Value)> SuccessColumns(Updates.SuccessRates s) =>
        [("efficacy", s.Efficacy), ("paraphrase_success", s.ParaphraseSuccess), ("neighborhood_success", s.NeighborhoodSuccess)];

    /// <summary>A curve point's columns after the number of updates.</summary>
    static IReadOnlyList<(string Name, double Value)> PointColumns(CurvePoint p) =>
    [
        ("reliability", p.Reliability), ("generalization", p.Generalization), ("locality", p.Locality),
        ("relation_locality", p.RelationLocality), ("subject_locality", p.SubjectLocality), ("portability", p.Portability),
        .. SuccessColumns(p.Success).Select(c => (c.Name, c.Value!.Value)), ("fluency", p.Fluency),
    ];

    internal static string Format(double? v) => v switch
    {
        null => "",
        double x when double.IsNaN(x) => "n/a",
        double x when Math.Abs(x) >= 1000 => x.ToString("F0", CultureInfo.InvariantCulture),
        double x when x != 0 && Math.Abs(x) < 0.01 => x.ToString("G3", CultureInfo.InvariantCulture),
        double x => x.ToString("F3", CultureInfo.InvariantCulture),
    };

    public static string Markdown(ComparisonResult result)
    {
        var text = new StringBuilder();
        text.AppendLine($"# Update channels compared ({result.Changes} changes)").AppendLine();
        if (result.Methods.Count > 0) MethodTable(result, text);
        foreach (var (method, curve) in result.Curves)
        {
            text.AppendLine().AppendLine($"## Sequential: {method}").AppendLine();
            var columns = curve.Count == 0 ? [] : PointColumns(curve[0]).Select(c => c.Name).ToList();
            text.AppendLine($"| updates | {string.Join(" | ", columns)} |").AppendLine($"| ---: |{string.Concat(columns.Select(_ => " ---: |"))}");
            foreach (var p in curve)
                text.AppendLine($"| {p.Updates} | {string.Join(" | ", PointColumns(p).Select(c => Format(c.Value)))} |");
        }
        if (result.Circuits is { } circuits) CircuitRewiringReport.Markdown(circuits, text);
        return text.ToString();
    }

    static void MethodTable(ComparisonResult result, StringBuilder text)
    {
        var columns = Row(result.Methods.Values.First()).Select(c => c.Name).ToList();
        text.AppendLine($"| method | {string.Join(" | ", columns)} |");
        text.AppendLine($"| --- |{string.Concat(columns.Select(_ => " ---: |"))}");
        foreach (var (method, scores) in result.Methods)
            text.AppendLine($"| {method} | {string.Join(" | ", Row(scores).Select(c => Format(c.Value)))} |");
        text.AppendLine().AppendLine($"hybrid split: {result.HybridSplit}. Fluency: bi/tri-gram entropy in bits (ROME). Retrieval columns are empty for channels that do not retrieve.");
    }

    public static string Csv(ComparisonResult result)
    {
        var text = new StringBuilder();
        string R(double v) => v.ToString("R", CultureInfo.InvariantCulture);
        if (result.Methods.Count == 0)
        {
            // A lifelong run: its curves, one row per channel and point.
            var first = result.Curves.Values.FirstOrDefault(c => c.Count > 0);
            if (first is not null) text.AppendLine("method,updates," + string.Join(",", PointColumns(first[0]).Select(c => c.Name)));
            foreach (var (method, curve) in result.Curves)
                foreach (var p in curve)
                    text.AppendLine($"{method},{p.Updates}," + string.Join(",", PointColumns(p).Select(c => R(c.Value))));
            return text.ToString();
        }
        text.AppendLine("method," + string.Join(",", Row(result.Methods.Values.First()).Select(c => c.Name)));
        foreach (var (method, scores) in result.Methods)
            text.AppendLine(method + "," + string.Join(",", Row(scores).Select(c => c.Value is double v ? v.ToString("R", CultureInfo.InvariantCulture) : "")));
        return text.ToString();
    }

    /// <summary>Writes compare.md, compare.csv and plots/*.png into <paramref name="directory"/>; returns the files written.</summary>
    public static IReadOnlyList<string> Write(ComparisonResult result, string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new List<string>();
        void Text(string name, string content)
        {
            Core.AtomicFile.WriteAllText(Path.Combine(directory, name), content);
            files.Add(name);
        }
        Text("compare.md", Markdown(result));
        Text("compare.csv", Csv(result));
        var plots = Path.Combine(directory, "plots");
        Directory.CreateDirectory(plots);

        if (result.Methods.Count > 0) files.Add(MetricBars(result, plots));
        if (result.Circuits is { } circuits) files.Add(CircuitRewiringReport.Plot(circuits, plots));
        string[] plotted = ["reliability", "generalization", "locality", "efficacy", "paraphrase_success", "neighborhood_success", "fluency"];
        foreach (var metric in result.Curves.Count == 0 ? [] : plotted)
        {
            var plot = new Plot();
            foreach (var (method, curve) in result.Curves)
            {
                var ys = curve.Select(p => PointColumns(p).First(c => c.Name == metric).Value).ToArray();
                var line = plot.Add.Scatter(curve.Select(p => Math.Log10(p.Updates)).ToArray(), ys);
                line.LegendText = method;
                line.LineWidth = 2;
            }
            Finish(plot, "updates kept (log10)", metric == "fluency" ? "n-gram entropy (bits)" : metric, $"Sequential updates: {metric}", unitRange: metric != "fluency");
            files.Add(Save(plot, plots, $"sequential-{metric}.png"));
        }
        return files;
    }

    /// <summary>One group of bars per rate, one bar per method; returns the file written.</summary>
    static string MetricBars(ComparisonResult result, string plots)
    {
        var methods = result.Methods.Keys.ToList();
        string[] rates = ["reliability", "generalization", "locality", "portability"];
        var bars = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        for (int m = 0; m < methods.Count; m++)
        {
            var row = Row(result.Methods[methods[m]]).ToDictionary(c => c.Name, c => c.Value ?? double.NaN);
            var series = rates.Select((r, i) => new Bar
            {
                Position = i * (methods.Count + 1) + m, Value = double.IsNaN(row[r]) ? 0 : row[r], FillColor = palette.GetColor(m),
            }).ToList();
            bars.Add.Bars(series).LegendText = methods[m];
        }
        bars.Axes.Bottom.SetTicks(rates.Select((_, i) => i * (methods.Count + 1) + (methods.Count - 1) / 2.0).ToArray(), rates);
        Finish(bars, "metric", "score", $"Update channels, {result.Changes} changes");
        return Save(bars, plots, "metrics.png");
    }

    internal static void Finish(Plot plot, string x, string y, string title, bool unitRange = true)
    {
        plot.XLabel(x);
        plot.YLabel(y);
        plot.Title(title, size: 13);
        if (unitRange) plot.Axes.SetLimitsY(-0.02, 1.02);
        plot.ShowLegend(Alignment.LowerRight);
    }

    internal static string Save(Plot plot, string directory, string file)
    {
        Core.AtomicFile.Write(Path.Combine(directory, file), temp => plot.SavePng(temp, 720, 420));
        return Path.Combine("plots", file);
    }
}
