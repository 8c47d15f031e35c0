using System.Text.Json;
using Evolution.Agents.Recording;
using Evolution.Core.Worlds;

namespace Evolution.Scenarios.Tests;

/// <summary>A lifelong run on the tiny world's three news epochs: the same agent through three update channels.</summary>
[Collection(TinyGroupCollection.Name)]
public class LifelongRunTests(TinyGroup group)
{
    [Fact]
    public async Task EachChannelIsMeasuredOverTheEpochsOnCurrentStaleAndUnchangedFacts()
    {
        var path = Path.Combine(group.Directory, "lifelong.yaml");
        File.WriteAllText(path, $$"""
            name: lifelong
            seed: 5
            world: {{TinyGroup.TinyWorld}}
            agents:
              - {name: stale, profile: tiny-social.yaml, seed: 1, update: none}
              - {name: rag, profile: tiny-social.yaml, seed: 1, update: rag}
              - {name: ftl, profile: tiny-social.yaml, seed: 1, update: ft-l}
            steps:
              - quiz: {facts: all}
              - epochs:
                  steps:
                    - news: {}
                    - quiz: {facts: all}
                    - debate: {facts: news, rounds: 1}
                    - consolidate: {}
            """);
        var output = Path.Combine(group.Directory, "runs", "lifelong");
        var summary = ScenarioRunner.Run(Scenario.Load(path), group.Options(output), force: true).Summary;
        var world = TinyGroup.World();
        var rows = summary.Epochs!.ToDictionary(e => (e.Epoch, e.Agent));
        Assert.Equal(4 * 3, rows.Count);
        Assert.Equal(["none", "rag", "ft-l"], summary.Epochs!.Take(3).Select(e => e.Channel));

        // Recomputed another way, from the world's state at each epoch rather than its list of changes.
        using (var db = new RunDatabase(Path.Combine(output, RunDatabase.FileName)))
        {
            var quizzes = Scenario.Load(path).Steps.OfType<Agents.Protocols.QuizStep>().Select(s => s.Index).ToHashSet();
            var neverChanged = world.FactsAt(0).Where(f => Enumerable.Range(0, world.Spec.Epochs).All(e => world.ObjectOf(f.Subject, f.Relation, e) == f.Object))
                .Select(f => (f.Subject, f.Relation)).ToHashSet();
            foreach (var g in db.Answers.FindAll().Where(a => quizzes.Contains(a.Step)).GroupBy(a => (a.Epoch, a.Agent)))
            {
                string Object(AnswerEvent a, int epoch) => world[world.ObjectOf(a.Subject, a.Relation, epoch)].Name;
                var changed = g.Where(a => Enumerable.Range(0, g.Key.Epoch).Any(e => Object(a, e) != Object(a, e + 1))).ToList();
                var stale = changed.Count(a => !a.Correct && Enumerable.Range(0, g.Key.Epoch).Any(e => Object(a, e) == a.Answer.TrimStart()));
                var unchanged = g.Where(a => neverChanged.Contains((a.Subject, a.Relation))).ToList();
                var row = rows[g.Key];
                Assert.Equal(changed.Count, row.ChangedAnswers);
                Assert.Equal(unchanged.Count, row.UnchangedAnswers);
                Assert.Equal(changed.Count == 0 ? null : Math.Round(changed.Count(a => a.Correct) / (double)changed.Count, 4), row.CurrentAccuracy);
                Assert.Equal(changed.Count == 0 ? null : Math.Round(stale / (double)changed.Count, 4), row.StaleShare);
                Assert.Equal(Math.Round(unchanged.Count(a => a.Correct) / (double)unchanged.Count, 4), row.UnchangedAccuracy);
            }
        }

        // The quizzes ask every fact: the changed ones accumulate, one chain of news counted once.
        var changedSoFar = Enumerable.Range(0, 4).Select(e => world.Changes.Where(c => c.Epoch <= e).Select(c => (c.Subject, c.Relation)).Distinct().Count()).ToList();
        Assert.Equal(changedSoFar, Enumerable.Range(0, 4).Select(e => rows[(e, "stale")].ChangedAnswers));
        Assert.True(changedSoFar[3] < world.Changes.Count, "the tiny world changes some fact twice");
        Assert.Null(rows[(0, "rag")].CurrentAccuracy);
        for (int epoch = 1; epoch <= 3; epoch++)
        {
            var (stale, rag) = (rows[(epoch, "stale")], rows[(epoch, "rag")]);
            // The agent that learns nothing answers what it was trained on: an earlier object of most changed facts;
            // the one that reads its news answers the current one.
            Assert.True(stale.StaleShare >= 0.5 && stale.CurrentAccuracy <= 0.5, $"epoch {epoch}: none {stale}");
            Assert.True(rag.CurrentAccuracy > stale.CurrentAccuracy && rag.StaleShare < stale.StaleShare, $"epoch {epoch}: rag {rag}, none {stale}");
        }

        var summaryJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, RunResults.SummaryFile))).RootElement;
        Assert.Equal(12, summaryJson.GetProperty("epochs").GetArrayLength());
        Assert.Contains("stale_share", summaryJson.GetProperty("epochs")[3].EnumerateObject().Select(p => p.Name));
        Assert.Contains(",epoch,epoch=3,,rag,current_accuracy,", File.ReadAllText(Path.Combine(output, RunResults.MetricsFile)));
        var report = await HeadlessReport.Open(output);
        Assert.Contains("Over the epochs", report.Text);
        Assert.Contains("Stale answers", report.Text);
        foreach (var plot in new[] { "epochs-current.png", "epochs-stale.png", "epochs-unchanged.png" })
            Assert.True(File.Exists(Path.Combine(output, RunResults.PlotsDirectory, plot)), plot);
        Assert.All(report.ImageWidths, width => Assert.Equal(640, width));
        Assert.Empty(report.Errors);
    }
}
