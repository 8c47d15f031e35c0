using System.Globalization;
using System.Net;
using System.Text;
using Evolution.Agents.Recording;
using Evolution.Scenarios.Population;

namespace Evolution.Scenarios;

/// <summary>report.html: one self-contained page (plots inlined as data URIs, no scripts, no network) that opens offline.</summary>
public static class RunReport
{
    public static string Html(RunSummary summary, RunInfo info, IReadOnlyList<(int Step, int Round, string Agent, int Answers, double AnswerSeconds, double UpdateSeconds)> costs,
        IReadOnlyList<(string Title, byte[] Png)> plots)
    {
        var html = new StringBuilder();
        string E(object? text) => WebUtility.HtmlEncode(Convert.ToString(text, CultureInfo.InvariantCulture) ?? "");
        string F(double? x) => x is null || double.IsNaN(x.Value) ? "–" : x.Value.ToString("0.###", CultureInfo.InvariantCulture);
        void Table(string caption, string[] header, IEnumerable<IEnumerable<object?>> rows)
        {
            html.Append("<table><caption>").Append(E(caption)).Append("</caption><thead><tr>");
            foreach (var h in header) html.Append("<th>").Append(E(h)).Append("</th>");
            html.Append("</tr></thead><tbody>");
            foreach (var row in rows)
            {
                html.Append("<tr>");
                foreach (var cell in row) html.Append("<td>").Append(cell is double d ? F(d) : E(cell)).Append("</td>");
                html.Append("</tr>");
            }
            html.Append("</tbody></table>\n");
        }

        html.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Evolution run: ").Append(E(summary.Scenario)).Append("</title>\n<style>")
            .Append("body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}")
            .Append("table{border-collapse:collapse;margin:1em 0}caption{text-align:left;font-weight:600;padding:.3em 0}")
            .Append("th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th:first-child,td:first-child{text-align:left}")
            .Append("figure{margin:1.5em 0}figcaption{color:#555;font-size:.9em}img{max-width:100%}</style></head><body>\n");
        html.Append("<h1>Scenario ").Append(E(summary.Scenario)).Append("</h1>\n<p>Seed ").Append(summary.Seed).Append(", status ").Append(E(summary.Status))
            .Append(", ").Append(summary.Answers).Append(" answers and ").Append(summary.Updates).Append(" updates recorded. Started ")
            .Append(E(info.Started.ToString("u", CultureInfo.InvariantCulture))).Append(info.Resumes > 0 ? $", resumed {info.Resumes} time(s)" : "").Append(".</p>\n");

        Table("Agents", ["agent", "profile", "training seed", "update policy", "keep own answer above"],
            summary.Agents.Select(a => new object?[] { a.Name, a.Profile, a.TrainingSeed, a.Update, a.KeepOwnAbove }));

        if (summary.Epochs is { Count: > 0 } epochs)
        {
            html.Append("<h2>Over the epochs</h2>\n<p>Each agent's quiz answers at each epoch: on the facts changed so far (asked against their object now), ")
                .Append("on the facts that change at no epoch, and the share of answers about changed facts that give an object the fact had before.</p>\n");
            var columns = epochs.Select(e => e.Epoch).Distinct().Order().ToList();
            string Counts(Func<EpochMetrics, int> count) => string.Join(", ", columns.Select(c => $"epoch {c}: {epochs.Where(e => e.Epoch == c).Max(count)}"));
            void ByEpoch(string caption, Func<EpochMetrics, double?> value) =>
                Table(caption, ["agent", "channel", .. columns.Select(c => $"epoch {c}")], epochs.GroupBy(e => e.Agent).Select(g =>
                    new object?[] { g.Key, g.First().Channel }.Concat(columns.Select(c => (object?)(g.FirstOrDefault(e => e.Epoch == c) is { } e ? value(e) ?? double.NaN : double.NaN)))));
            ByEpoch($"Accuracy on current facts (answers about facts changed so far: {Counts(e => e.ChangedAnswers)})", e => e.CurrentAccuracy);
            ByEpoch("Stale answers: share of answers about changed facts that give an earlier object", e => e.StaleShare);
            ByEpoch($"Accuracy on facts that never change (answers: {Counts(e => e.UnchangedAnswers)})", e => e.UnchangedAccuracy);
        }

        foreach (var step in summary.Steps)
        {
            html.Append("<h2>Step ").Append(step.Step).Append(": ").Append(E(step.Protocol)).Append("</h2>\n");
            if (step.AccuracyByAgent is { } accuracy)
                Table($"Quiz accuracy (mean {F(step.MeanAccuracy)}, majority vote {F(step.MajorityAccuracy)})", ["agent", "accuracy"],
                    accuracy.Select(kv => new object?[] { kv.Key, kv.Value }));
            foreach (var d in step.Debates ?? [])
            {
                Table($"Debate {d.Condition} ({d.Agents} agents, {d.Facts} facts): consensus {F(d.ConsensusShare)}, time to consensus {F(d.TimeToConsensus)} rounds, wrong consensus {F(d.WrongConsensusRate)}, oracle gap {F(d.OracleGap)}",
                    ["round", "accuracy", "majority", "distinct answers", "entropy (bits)", "tt", "tf", "ft", "ff", "flips", "conformity rate", "new fact held"],
                    d.Rounds.Select(r => new object?[] { r.Round, r.Accuracy, r.MajorityAccuracy, r.DistinctAnswers, r.AnswerEntropy, r.Transitions.TT, r.Transitions.TF, r.Transitions.FT, r.Transitions.FF, r.Flips, r.ConformityRate ?? double.NaN, r.NewAnswerShare ?? double.NaN }));
            }
            foreach (var groups in new[] { step.ConformityByTraits, step.ConformityByAgent })
            {
                if (groups is not { Count: > 0 }) continue;
                var ks = groups.SelectMany(g => g.WrongMajorityAdoption.Keys).Distinct().Order().ToList();
                Table("Wrong-majority adoption by number of wrong confederates", ["group", "facts", "alone accuracy", .. ks.Select(k => $"k={k}")],
                    groups.Select(g => new object?[] { g.Group, g.Facts, g.AloneAccuracy }.Concat(ks.Select(k => (object?)g.WrongMajorityAdoption.GetValueOrDefault(k, double.NaN)))));
            }
            if (step.ConformityByAgent?.Where(g => g.AllyAdoption is { Count: > 0 }).ToList() is { Count: > 0 } allied)
            {
                var ks = allied.SelectMany(g => g.AllyAdoption!.Keys).Distinct().Order().ToList();
                Table("One truthful ally among k confederates (Asch's true partner): wrong-majority adoption without / with the ally", ["agent", .. ks.Select(k => $"k={k}")],
                    allied.Select(g => new object?[] { g.Group }.Concat(ks.Select(k => (object?)$"{F(g.WrongMajorityAdoption.GetValueOrDefault(k, double.NaN))} / {F(g.AllyAdoption!.GetValueOrDefault(k, double.NaN))}"))));
            }
            if (step.PeerPressure is { Count: > 0 } pressure)
                Table("Inside the answers read with disagreeing peers (mechanism record, per agent)",
                    ["agent", "answers", "took the peers' answer", "mean shift of logit(own) − logit(peers)", "memorization ratio", "first to move towards the peers", "share", "reads the peers hardest", "share", "its attention on them"],
                    pressure.Select(p => new object?[] { p.Agent, p.Answers, p.ConformShare, p.MeanLogitDifferenceShift, p.MeanMemorizationRatio, p.TopComponent, p.TopComponentShare, p.TopReader, p.TopReaderShare, p.MeanTopReaderAttention }));
            if (step.ConformedVsResisted is { Count: > 0 } split)
            {
                int depth = split.Max(x => x.AttentionToPeersByLayer.Count);
                Table("Conformers against resisters: the same records split by outcome",
                    ["outcome", "answers", "logit(own) − logit(peers) alone", "with the peers", "memorization ratio", .. Enumerable.Range(0, depth).Select(l => $"attention to peers, layer {l}"), "first to move towards the peers", "share"],
                    split.Select(x => new object?[] { x.Outcome, x.Answers, x.MeanLogitDifferenceAlone, x.MeanLogitDifferenceWithPeers, x.MeanMemorizationRatio }
                        .Concat(Enumerable.Range(0, depth).Select(l => (object?)(l < x.AttentionToPeersByLayer.Count ? x.AttentionToPeersByLayer[l] : double.NaN)))
                        .Concat([x.TopComponent, x.TopComponentShare])));
            }
            foreach (var check in step.Interventions ?? [])
                Table($"Intervention {check.Name}: wrong-majority adoption (of facts right alone) and accuracy alone, as they are / intervened / random other heads (mean ± sd over draws)",
                    ["agent", "intervention", "adoption", "intervened", "random heads", "accuracy alone", "intervened", "random heads"],
                    new[] { check }.Concat(check.Agents ?? []).Select(x => new object?[] { x.Agent, x.Agent == "all" ? string.Join(",", x.Heads ?? []) : x.Intervention, x.Adoption, x.AdoptionAblated,
                        x.AdoptionRandomAblated is { } r ? $"{F(r)} ± {F(x.AdoptionRandomAblatedSpread)}" : "–", x.AccuracyAlone, x.AccuracyAloneAblated, x.AccuracyAloneRandomAblated ?? double.NaN }));
            if (step.ConformityCircuits is { Count: > 0 } conformityCircuits)
                Table("Conformity circuit per agent at this step (heads ranked by EAP-IG effect towards the wrong majority)",
                    ["agent", "contrasts", "top heads", "their scores"],
                    conformityCircuits.Select(c => new object?[] { c.Agent, c.Contrasts, string.Join(", ", c.TopHeads), string.Join(", ", c.TopHeads.Select(h => F(c.HeadScores[h]))) }));
            if (step.Updates is { Count: > 0 } updates)
                Table("Updates", ["agent", "channel", "applied", "facts", "bytes stored"], updates.Select(u => new object?[] { u.Agent, u.Channel, u.Applied ? "yes" : "no", u.Facts, u.Bytes }));
            if (step.Convergence is { Count: > 0 } layers)
                Table("Representation convergence (mean over agent pairs)", ["layer", "hook", "linear CKA", "mutual k-NN"], layers.Select(l => new object?[] { l.Layer, l.Hook, l.LinearCka, l.MutualKnn }));
            if (summary.Population?.Spreads.FirstOrDefault(x => x.Step == step.Step)?.Mechanism is { Count: > 0 } mechanism)
            {
                string Split(SpreadMechanismRound r, string outcome) => r.ConformedVsResisted.FirstOrDefault(x => x.Outcome == outcome) is { } x
                    ? $"{x.Answers}: ratio {F(x.MeanMemorizationRatio)}, attention {string.Join(" / ", x.AttentionToPeersByLayer.Select(a => F(a)))}" : "–";
                Table("Mechanism of the answers read with neighbours who said otherwise, per round (records: distinct analyses; conformed: took the neighbours' majority other answer; " +
                    "logit shift: mean move of logit(own) − logit(neighbours') when they spoke; first mover: the component most often moving furthest towards them; top reader: the head most often attending most to them)",
                    ["round", "records", "answers", "conformed", "logit shift", "memorization ratio", "first mover", "top reader", "conformers: ratio, attention to peers by layer", "resisters"],
                    mechanism.Select(r => new object?[] { r.Round, r.Records, r.All.Answers, r.All.ConformShare, r.All.MeanLogitDifferenceShift, r.All.MeanMemorizationRatio,
                        $"{r.All.TopComponent} ({F(r.All.TopComponentShare)})", $"{r.All.TopReader} ({F(r.All.TopReaderShare)})", Split(r, "conformed"), Split(r, "resisted") }));
            }
            if (summary.Population?.Spreads.FirstOrDefault(x => x.Step == step.Step)?.ConformityCircuits is { Count: > 0 } followed)
                Table("Conformity circuits of followed agents before the news and after the spread (EAP-IG head effects towards a wrong majority; top heads: the first quarter)",
                    ["agent", "base", "channel", "committed", "top heads before", "after", "overlap", "rank correlation"],
                    followed.Select(c => new object?[] { c.Agent, c.Base, c.Channel, c.Committed.Count == 0 ? "–" : string.Join("; ", c.Committed),
                        string.Join(", ", c.Before.TopHeads), string.Join(", ", c.After.TopHeads), c.TopHeadJaccard, c.HeadRankCorrelation }));
            if (step.CircuitSimilarity is { Count: > 0 } circuits)
                Table($"Circuit similarity of the same fact across agents (EAP-IG circuits; mean edge Jaccard {F(circuits.Average(c => c.EdgeJaccard))})",
                    ["fact", "agent pairs", "edge Jaccard", "weighted overlap"], circuits.Select(c => new object?[] { c.Fact, c.Pairs, c.EdgeJaccard, c.WeightedOverlap }));
        }
        if (summary.ConformityOverTime is { Count: > 0 } changes)
        {
            html.Append("<h2>The conformity mechanism over time</h2>\n<p>Each agent's conformity circuit and its answers under a wrong majority, ")
                .Append("from one conformity step that measured the circuit to the next, with what happened in between.</p>\n");
            string Layers(IReadOnlyList<double>? a) => a is null ? "–" : string.Join(" / ", a.Select(x => F(x)));
            Table("Conformity mechanism, step to step: top heads, their overlap (Jaccard) and the rank correlation of every head's score; adoption; mean shift of logit(own) − logit(peers); attention to the peers by layer",
                ["agent", "steps", "in between", "top heads before", "after", "overlap", "rank correlation", "adoption before", "after", "logit shift before", "after", "attention to peers before", "after"],
                changes.Select(c => new object?[] { c.Agent, $"{c.FromStep} → {c.ToStep}", string.Join(", ", c.Between), string.Join(", ", c.TopHeadsFrom), string.Join(", ", c.TopHeadsTo),
                    c.TopHeadJaccard, c.HeadRankCorrelation, c.AdoptionFrom, c.AdoptionTo, c.LogitShiftFrom ?? double.NaN, c.LogitShiftTo ?? double.NaN, Layers(c.AttentionToPeersFrom), Layers(c.AttentionToPeersTo) }));
        }
        if (summary.MemorizationRatioByChannel.Count > 0)
            Table("Memorization ratio p(old)/(p(old)+p(new)) on changed facts, by update channel of the agents told the news", ["channel", "ratio"],
                summary.MemorizationRatioByChannel.Select(kv => new object?[] { kv.Key, kv.Value }));

        html.Append("<h2>Plots</h2>\n");
        foreach (var (title, png) in plots)
            html.Append("<figure><img alt=\"").Append(E(title)).Append("\" src=\"data:image/png;base64,").Append(Convert.ToBase64String(png)).Append("\"><figcaption>").Append(E(title)).Append("</figcaption></figure>\n");

        html.Append("<h2>Cost</h2>\n");
        Table("Compute per agent, step and round", ["step", "round", "agent", "answers", "seconds answering", "seconds updating"],
            costs.Select(c => new object?[] { c.Step, c.Round, c.Agent, c.Answers, c.AnswerSeconds, c.UpdateSeconds }));
        html.Append("</body></html>\n");
        return html.ToString();
    }
}
