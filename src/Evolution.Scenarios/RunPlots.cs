using ScottPlot;

namespace Evolution.Scenarios;

/// <summary>A run's pictures (ScottPlot PNG): accuracy and conformity over rounds, the Asch curve, the diffusion curve, convergence by layer, each agent over the epochs.</summary>
public static class RunPlots
{
    public static IReadOnlyList<(string File, string Title)> Draw(RunSummary summary, string directory)
    {
        Directory.CreateDirectory(directory);
        var files = new List<(string, string)>();
        foreach (var step in summary.Steps)
        {
            if (step.Debates is { Count: > 0 } debates)
            {
                var plot = new Plot();
                foreach (var d in debates)
                {
                    var xs = d.Rounds.Select(r => (double)r.Round).ToArray();
                    Line(plot, xs, d.Rounds.Select(r => r.Accuracy).ToArray(), $"accuracy {d.Condition}".Trim());
                    Line(plot, xs, d.Rounds.Select(r => r.MajorityAccuracy).ToArray(), $"majority {d.Condition}".Trim(), dashed: true);
                }
                Finish(plot, "round", "accuracy", $"Debate (step {step.Step}): accuracy over rounds");
                files.Add(Save(plot, directory, $"debate-step{step.Step}.png", $"Debate, step {step.Step}: individual and majority-vote accuracy per round"));

                if (debates.Any(d => d.Rounds.Any(r => r.NewAnswerShare is not null)))
                {
                    var diffusion = new Plot();
                    foreach (var d in debates)
                        Line(diffusion, d.Rounds.Select(r => (double)r.Round).ToArray(), d.Rounds.Select(r => r.NewAnswerShare ?? double.NaN).ToArray(), $"new fact held {d.Condition}".Trim());
                    Finish(diffusion, "round", "share of answers giving the new object", $"News diffusion (step {step.Step})");
                    files.Add(Save(diffusion, directory, $"diffusion-step{step.Step}.png", $"Diffusion of news, step {step.Step}: share of agents' answers that give the changed fact's new object"));
                }
            }
            if (step.ConformityByTraits is { Count: > 0 } groups)
            {
                var plot = new Plot();
                foreach (var g in groups.Concat(step.ConformityByAgent ?? []))
                {
                    var points = g.WrongMajorityAdoption.Where(kv => !double.IsNaN(kv.Value)).ToList();
                    Line(plot, points.Select(p => (double)p.Key).ToArray(), points.Select(p => p.Value).ToArray(), g.Group, dashed: !g.Group.StartsWith("keep_own_above", StringComparison.Ordinal));
                }
                Finish(plot, "wrong confederates", "wrong-majority adoption", $"Asch curve (step {step.Step})");
                files.Add(Save(plot, directory, $"asch-step{step.Step}.png", $"Asch curve, step {step.Step}: share of right answers given up for the confederates' wrong answer, by number of confederates"));
            }
            if (step.Convergence is { Count: > 0 } layers)
            {
                var plot = new Plot();
                var xs = layers.Select(l => (double)l.Layer).ToArray();
                Line(plot, xs, layers.Select(l => l.LinearCka).ToArray(), "linear CKA");
                Line(plot, xs, layers.Select(l => l.MutualKnn).ToArray(), "mutual k-NN");
                Finish(plot, "layer", "similarity (mean over agent pairs)", $"Representation convergence (step {step.Step})");
                files.Add(Save(plot, directory, $"convergence-step{step.Step}.png", $"Representation convergence, step {step.Step}: mean over agent pairs, per layer"));
            }
            if (step.AccuracyByAgent is { Count: > 0 } accuracy)
            {
                var plot = new Plot();
                var bars = accuracy.Select((kv, i) => new Bar { Position = i, Value = double.IsNaN(kv.Value) ? 0 : kv.Value }).ToArray();
                plot.Add.Bars(bars);
                plot.Axes.Bottom.SetTicks(Enumerable.Range(0, accuracy.Count).Select(i => (double)i).ToArray(), accuracy.Keys.ToArray());
                Finish(plot, "agent", "accuracy", $"Quiz (step {step.Step})", legend: false);
                files.Add(Save(plot, directory, $"quiz-step{step.Step}.png", $"Quiz, step {step.Step}: accuracy per agent"));
            }
        }
        if (summary.Epochs is { } epochs && epochs.Select(e => e.Epoch).Distinct().Count() >= 2)
        {
            var ticks = epochs.Select(e => e.Epoch).Distinct().Order().ToArray();
            foreach (var (metric, file, label, title) in new (Func<EpochMetrics, double?>, string, string, string)[]
            {
                (e => e.CurrentAccuracy, "epochs-current.png", "accuracy on facts changed so far", "accuracy on current facts"),
                (e => e.StaleShare, "epochs-stale.png", "share of stale answers", "answers giving a changed fact's earlier object"),
                (e => e.UnchangedAccuracy, "epochs-unchanged.png", "accuracy on facts never changed", "accuracy on facts that never change"),
            })
            {
                var plot = new Plot();
                foreach (var agent in epochs.GroupBy(e => e.Agent))
                {
                    var points = agent.Where(e => metric(e) is not null).ToList();
                    var channel = agent.First().Channel;
                    if (points.Count > 0)
                        Line(plot, points.Select(e => (double)e.Epoch).ToArray(), points.Select(e => metric(e)!.Value).ToArray(), agent.Key == channel ? agent.Key : $"{agent.Key} ({channel})");
                }
                Finish(plot, "epoch", label, $"Over the epochs: {title}");
                plot.Axes.Bottom.SetTicks(ticks.Select(e => (double)e).ToArray(), ticks.Select(e => e.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray());
                files.Add(Save(plot, directory, file, $"Over the epochs: {title}, per agent (update channel)"));
            }
        }
        foreach (var spread in summary.Population?.Spreads ?? [])
        {
            var adoption = spread.Spread.Adoption;
            var steps = Enumerable.Range(0, adoption.True.Count).Select(i => (double)i).ToArray();
            var curves = new Plot();
            Line(curves, steps, [.. adoption.True], "true news");
            if (adoption.Rumour.Any(x => x > 0)) Line(curves, steps, [.. adoption.Rumour], "rumour");
            Line(curves, steps, [.. adoption.Old], "old object", dashed: true);
            Finish(curves, "step", "share of agents stating it", $"Spread (step {spread.Step}): adoption");
            files.Add(Save(curves, directory, $"spread-adoption-step{spread.Step}.png", $"Spread, step {spread.Step}: share of agents stating the news, the rumour and the old object, per step (mean over facts)"));

            var herd = new Plot();
            foreach (var curve in spread.Spread.Herd)
            {
                var points = curve.Points.Where(p => p.Trials > 0).ToList();
                if (points.Count > 0) Line(herd, points.Select(p => (double)p.Exposures).ToArray(), points.Select(p => p.Probability).ToArray(), curve.Kind);
            }
            Finish(herd, "neighbours read stating it at the previous step", "probability of adopting it", $"Spread (step {spread.Step}): herd curve");
            files.Add(Save(herd, directory, $"spread-herd-step{spread.Step}.png", $"Spread, step {spread.Step}: adoption probability against the number of neighbours read stating the object (the population's Asch curve)"));

            var depths = new Plot();
            foreach (var (cascades, i) in spread.Spread.Cascades.GroupBy(c => c.Kind).Select((g, i) => (g, i)))
            {
                var counts = cascades.SelectMany(c => c.Depths).GroupBy(d => d.Key).OrderBy(g => g.Key).Select(g => (Depth: g.Key, Count: g.Sum(d => d.Value))).ToList();
                var bars = depths.Add.Bars(counts.Select(c => new Bar { Position = c.Depth + 0.4 * i, Value = c.Count, Size = 0.4 }).ToArray());
                bars.LegendText = cascades.Key;
            }
            depths.XLabel("cascade depth");
            depths.YLabel("cascades");
            depths.Title($"Spread (step {spread.Step}): cascade depths", size: 13);
            depths.ShowLegend(Alignment.UpperRight);
            files.Add(Save(depths, directory, $"spread-cascades-step{spread.Step}.png", $"Spread, step {spread.Step}: distribution of cascade depths, per object"));
        }
        return files;
    }

    static void Line(Plot plot, double[] xs, double[] ys, string label, bool dashed = false)
    {
        var line = plot.Add.Scatter(xs, ys);
        line.LegendText = label;
        line.LineWidth = 2;
        if (dashed) line.LinePattern = LinePattern.Dashed;
    }

    static void Finish(Plot plot, string x, string y, string title, bool legend = true)
    {
        plot.XLabel(x);
        plot.YLabel(y);
        plot.Title(title, size: 13);
        plot.Axes.SetLimitsY(-0.02, 1.02);
        if (legend) plot.ShowLegend(Alignment.LowerRight);
    }

    static (string, string) Save(Plot plot, string directory, string file, string title)
    {
        Core.AtomicFile.Write(Path.Combine(directory, file), temp => plot.SavePng(temp, 640, 400));
        return (file, title);
    }
}
