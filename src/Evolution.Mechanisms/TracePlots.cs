using ScottPlot;

namespace Evolution.Mechanisms;

/// <summary>Pictures of traces as PNG (ScottPlot): causal-tracing heatmaps as in ROME's figures, logit-lens curves.</summary>
public static class TracePlots
{
    /// <summary>Restored target probability per (token, layer); subject tokens marked with *, as in Meng et al. Fig. 1.</summary>
    public static void CausalHeatmap(CausalTrace trace, IReadOnlyList<string> tokens, string path, int width = 640, int height = 480)
    {
        var values = new double[trace.Positions, trace.Layers];
        for (int t = 0; t < trace.Positions; t++)
            for (int l = 0; l < trace.Layers; l++) values[t, l] = trace.RestoredProbability[l, t];
        var labels = tokens.Select((token, t) => (t >= trace.SubjectStart && t < trace.SubjectEnd ? "*" : "") + token.Replace("\n", " ")).ToArray();
        Heatmap(values, labels, $"{trace.Kind}: restored p(target) (clean {trace.CleanProbability:F2}, corrupted {trace.CorruptedProbability:F2})", path, width, height);
    }

    /// <summary>Mean indirect effect per (token category, layer) over many facts.</summary>
    public static void CategoryHeatmap(double[,] meanEffect, TraceKind kind, int facts, string path, int width = 640, int height = 420)
    {
        int layers = meanEffect.GetLength(0), categories = meanEffect.GetLength(1);
        var values = new double[categories, layers];
        for (int c = 0; c < categories; c++)
            for (int l = 0; l < layers; l++) values[c, l] = double.IsNaN(meanEffect[l, c]) ? 0 : meanEffect[l, c];
        Heatmap(values, [.. TraceAggregation.Categories], $"{kind}: mean indirect effect over {facts} facts", path, width, height);
    }

    /// <summary>p(target) read off the residual stream after each layer (entry 0: embeddings).</summary>
    public static void LogitLensCurve(IReadOnlyList<string> hooks, IReadOnlyList<double> probabilities, string title, string path, int width = 560, int height = 380)
    {
        var plot = new Plot();
        var xs = Enumerable.Range(0, probabilities.Count).Select(i => (double)i).ToArray();
        var line = plot.Add.Scatter(xs, probabilities.ToArray());
        line.LineWidth = 2;
        plot.Axes.Bottom.SetTicks(xs, hooks.Select((h, i) => i == 0 ? "embed" : $"L{i - 1}").ToArray());
        plot.Axes.SetLimitsY(0, 1);
        plot.XLabel("residual stream after");
        plot.YLabel("p(target)");
        plot.Title(title);
        Save(plot, path, width, height);
    }

    static void Heatmap(double[,] values, string[] rowLabels, string title, string path, int width, int height)
    {
        var plot = new Plot();
        var heatmap = plot.Add.Heatmap(values);
        heatmap.Colormap = new ScottPlot.Colormaps.Viridis();
        plot.Add.ColorBar(heatmap);
        int rows = values.GetLength(0), columns = values.GetLength(1);
        // ScottPlot draws row 0 at the top, centred on y = rows - 1.
        plot.Axes.Left.SetTicks(Enumerable.Range(0, rows).Select(r => (double)(rows - 1 - r)).ToArray(), rowLabels);
        plot.Axes.Bottom.SetTicks(Enumerable.Range(0, columns).Select(c => (double)c).ToArray(), Enumerable.Range(0, columns).Select(c => $"L{c}").ToArray());
        plot.XLabel("layer");
        plot.Title(title, size: 12);
        Save(plot, path, width, height);
    }

    static void Save(Plot plot, string path, int width, int height) =>
        Evolution.Core.AtomicFile.Write(path, temp => plot.SavePng(temp, width, height));
}
