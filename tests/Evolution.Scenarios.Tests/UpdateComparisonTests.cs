using System.Diagnostics;
using System.Text.Json;
using Evolution.Agents;
using Evolution.Core.Agents;
using Evolution.Updates;

namespace Evolution.Scenarios.Tests;

[Collection(TinyGroupCollection.Name)]
public class UpdateComparisonTests(TinyGroup group) : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-compare").FullName;

    [Fact]
    public void EveryChannelGetsEveryMetricOnTheSameChangesAndTheModelIsRestored()
    {
        using var agent = group.Runtime("ada", 1);
        var parts = new AgentRuntime.Parts(agent.Model, agent.Tokenizer, agent.World, agent.Profile);
        var changes = WorldChanges.Select(agent.World, 0, 4);
        Assert.Equal(agent.World.Changes.Where(c => c.Epoch == 1), changes.Take(3)); // the world's news first, then a counterfactual
        var before = agent.Model.parameters().Select(p => p.detach().clone()).ToList();

        var result = new UpdateComparison(parts, changes, new ComparisonOptions(Path.Combine(directory, "memory"), FluencyTokens: 12))
            .Run(UpdateComparison.Methods);

        Assert.Equal(UpdateComparison.Methods, result.Methods.Keys);
        // The untouched agent does not give the new objects; an agent edited by ROME, or reading the news from memory, does.
        var none = result.Methods["none"];
        Assert.Equal(0.0, none.Reliability);
        foreach (var method in new[] { "rome", "rag" })
        {
            Assert.True(result.Methods[method].Reliability >= 0.75, $"{method} reliability {result.Methods[method].Reliability}"); // 3 of the 4 changes at least
            Assert.True(result.Methods[method].Generalization > none.Generalization, $"{method} generalisation {result.Methods[method].Generalization} vs untouched {none.Generalization}");
        }
        foreach (var (method, s) in result.Methods)
        {
            Assert.True(s.Fluency > 0, $"{method} fluency {s.Fluency}");
            Assert.True(s.SecondsPerQuery > 0 && s.SecondsPerUpdate >= 0 && s.BytesStored >= 0, method);
            bool retrieves = method is "rag" or "hybrid" or "adaptive";
            Assert.Equal(retrieves, s.RecallAtK is not null);
            Assert.Equal(retrieves ? RetrievalScope.Subject : null, s.Scope); // the agent's defaults, recorded with the scores
            Assert.Equal(retrieves ? RetrievalQuery.Question : null, s.Query);
        }
        Assert.Equal(1.0, result.Methods["none"].Locality); // the reference agrees with itself
        Assert.Equal(0, result.Methods["none"].BytesStored);
        var rag = result.Methods["rag"];
        Assert.Equal(1.0, rag.RecallAt5);
        Assert.Equal(1.0, result.Methods["hybrid"].RecallAt5); // over the facts the hybrid told its memory
        Assert.True(rag.RecallAtK >= 0.75, $"recall@{rag.K} {rag.RecallAtK}");
        // The memorization ratio is over the questions whose statement was retrieved while the weights still give the old object.
        Assert.NotNull(rag.StaleQuestions);
        if (rag.StaleQuestions > 0) Assert.InRange(rag.MemorizationRatio!.Value, 0, 1);
        else Assert.True(double.IsNaN(rag.MemorizationRatio!.Value));
        Assert.True(result.Methods["ft"].BytesPerUpdate > result.Methods["ft-l"].BytesPerUpdate, "plain fine-tuning writes every weight");
        Assert.True(rag.BytesPerUpdate < result.Methods["rome"].BytesPerUpdate, "a statement is smaller than a weight delta");

        Assert.Equal(UpdateComparison.CurveMethods, result.Curves.Keys);
        Assert.All(result.Curves.Values, curve => Assert.Equal([1, 4], curve.Select(p => p.Updates)));
        Assert.Equal(rag.Reliability, result.Curves["rag"][^1].Reliability); // the curve's end is the batch: all statements in memory

        // Every update was undone: the weights are the trained ones, bit for bit.
        foreach (var (p, b) in agent.Model.parameters().Zip(before))
            Assert.Equal(b.data<float>().ToArray(), p.detach().data<float>().ToArray());

        var files = ComparisonReport.Write(result, Path.Combine(directory, "out"));
        var markdown = File.ReadAllText(Path.Combine(directory, "out", "compare.md"));
        Assert.All(UpdateComparison.Methods, m => Assert.Contains($"| {m} |", markdown));
        Assert.Equal(UpdateComparison.Methods.Count + 1, File.ReadAllLines(Path.Combine(directory, "out", "compare.csv")).Length);
        Assert.Contains("plots/metrics.png", files);
        Assert.All(files, f => Assert.True(new FileInfo(Path.Combine(directory, "out", f)).Length > 0, f));
    }

    /// <summary>
    /// <c>edit</c> scores single edits on the bare weights (<see cref="EditEvaluation.Singles"/>), <c>compare-updates</c> on an
    /// agent answering through its runtime: for an agent without memory, with the same editors, every edit's rates agree.
    /// </summary>
    [Fact]
    public void EditAndCompareUpdatesGiveTheSamePerEditScores()
    {
        using var agent = group.Runtime("ada", 1);
        var parts = new AgentRuntime.Parts(agent.Model, agent.Tokenizer, agent.World, agent.Profile);
        var changes = WorldChanges.Select(agent.World, 0, 5);
        var result = new UpdateComparison(parts, changes, new ComparisonOptions(Path.Combine(directory, "memory"), Curves: false, FluencyTokens: 4))
            .Run(["rome", "ft-l"]);
        var probes = EditProbes.For(agent.World, changes, 0, EditMetrics.Weights(agent.Model, agent.Tokenizer));
        Assert.All(probes, p => Assert.DoesNotContain(p.Neighbours, n => changes.Any(c => c.Subject == n.Question.Subject && c.Relation == n.Question.Relation)));
        foreach (var method in new[] { "rome", "ft-l" })
        {
            var edit = EditEvaluation.Singles(agent.Model, agent.Tokenizer, probes, agent.EditorFor(method));
            var compare = result.PerEdit[method];
            Assert.Equal(changes.Count, compare.Count);
            for (int i = 0; i < changes.Count; i++)
            {
                Assert.Equal((edit[i].Reliability, edit[i].Generalization, edit[i].Locality, edit[i].Portability),
                    (compare[i].Reliability, compare[i].Generalization, compare[i].Locality, compare[i].Portability));
            }
            Assert.Equal(EditMetrics.MeanDefined(edit.Select(e => e.Locality)), result.Methods[method].Locality, 12);
        }
    }

    [Fact]
    public void TheAdaptiveChannelSendsFirmlyKnownFactsToTheWeightsAndRetrievesOnlyWhereTheWeightsAreUnsure()
    {
        using var agent = group.Runtime("ada", 1);
        var changes = WorldChanges.Select(agent.World, 0, 6);
        var before = agent.Model.parameters().Select(p => p.detach().clone()).ToList();
        UpdateComparison At(double threshold, double answerAloneAbove = 1) => new(
            new AgentRuntime.Parts(agent.Model, agent.Tokenizer, agent.World,
                agent.Profile with { Update = agent.Profile.Update with { RouteAbove = threshold, AnswerAloneAbove = answerAloneAbove } }),
            changes, new ComparisonOptions(Path.Combine(directory, $"memory-{threshold}"), FluencyTokens: 4));

        // Threshold 1: no confidence is above it, so all news goes to memory and every question retrieves: the rag row.
        var allMemory = At(1).Run(["rag", "adaptive"]).Methods;
        Assert.Equal(1.0, allMemory["adaptive"].ToMemory);
        Assert.Equal(allMemory["rag"].Reliability, allMemory["adaptive"].Reliability);
        Assert.Equal(allMemory["rag"].Generalization, allMemory["adaptive"].Generalization);
        Assert.Equal(allMemory["rag"].Locality, allMemory["adaptive"].Locality);
        // Threshold 0: every fact is held above it, so all news goes to ROME and no question retrieves (the memory holds no
        // news, every answer is sure enough): ROME's edits kept one after another (the end of ROME's sequential curve).
        var allWeights = At(0, answerAloneAbove: 0).Run(["rome", "adaptive"]);
        var adaptive = allWeights.Methods["adaptive"];
        Assert.Equal(0.0, adaptive.ToMemory);
        Assert.True(double.IsNaN(adaptive.RecallAtK!.Value)); // nothing was told to the memory
        var romeKept = allWeights.Curves["rome"][^1];
        Assert.Equal(romeKept.Reliability, adaptive.Reliability);
        Assert.Equal(romeKept.Locality, adaptive.Locality);
        // In between, the facts go where the agent's confidence sends them, decided on the weights the earlier news left.
        var probes = EditProbes.For(agent.World, changes, 0, EditMetrics.Weights(agent.Model, agent.Tokenizer));
        double median = probes.Select(p => EditMetrics.Weights(agent.Model, agent.Tokenizer)([p.Reliability])[0].Probabilities.Max()).Order().ElementAt(changes.Count / 2);
        var split = At(median).Run(["adaptive"]).Methods["adaptive"];
        Assert.InRange(split.ToMemory!.Value, 0.01, 0.99);
        // All news in memory, questions retrieving only for facts with news: every other question is answered by the
        // untouched weights, so no neighbour can change, and the news is read as RAG reads it.
        var factsOnly = At(1, answerAloneAbove: 0).Run(["rag", "adaptive"]).Methods;
        Assert.Equal(1.0, factsOnly["adaptive"].Locality);
        Assert.Equal(factsOnly["rag"].Reliability, factsOnly["adaptive"].Reliability);

        foreach (var (p, b) in agent.Model.parameters().Zip(before))
            Assert.Equal(b.data<float>().ToArray(), p.detach().data<float>().ToArray());
    }

    [Fact]
    public void LifelongUpdatingKeepsEveryUpdateMeasuresAtTheCurvePointsAndRestoresTheModel()
    {
        Assert.Equal([1, 10, 50, 100, 200], UpdateComparison.LifelongSizes(200));
        Assert.Equal([1, 10, 50, 100, 200, 500, 1000, 1200], UpdateComparison.LifelongSizes(1200));
        using var agent = group.Runtime("ada", 1);
        var parts = new AgentRuntime.Parts(agent.Model, agent.Tokenizer, agent.World, agent.Profile);
        var changes = WorldChanges.Select(agent.World, 0, 12);
        Assert.Equal(changes.Count, changes.Select(c => (c.Subject, c.Relation)).Distinct().Count()); // each fact changed once
        var before = agent.Model.parameters().Select(p => p.detach().clone()).ToList();
        var comparison = new UpdateComparison(parts, changes, new ComparisonOptions(Path.Combine(directory, "memory"), FluencyTokens: 4));

        var result = comparison.RunLifelong(UpdateComparison.LifelongMethods, batch: 5);

        Assert.Empty(result.Methods);
        Assert.Equal(UpdateComparison.LifelongMethods, result.Curves.Keys);
        // ROME (and the adaptive channel, whose weight half is ROME's) writes one change per update; the others five, so
        // their curve points round up to whole updates.
        Assert.All(result.Curves, c => Assert.Equal(c.Key is "rome" or "adaptive" ? [1, 10, 12] : [5, 10, 12], c.Value.Select(p => p.Updates)));
        Assert.All(result.Curves, c => Assert.True(c.Value.Max(p => p.Reliability) > 0, $"{c.Key} never gave a new object"));
        // The papers' efficacy (P(new) > P(old)) holds wherever the new object ranks first, and more often.
        Assert.All(result.Curves.Values.SelectMany(c => c), p => Assert.True(p.Success.Efficacy >= p.Reliability, $"efficacy {p.Success.Efficacy} < reliability {p.Reliability}"));
        // AlphaEdit's projection is logged per update (5, 5 and 2 changes at the last layer), each solved against all earlier keys.
        Assert.Equal([(1, 5, 0), (2, 5, 5), (3, 2, 10)], result.NullSpace!.Select(u => (u.Batch, u.Requests, u.EarlierEdits)));
        // All statements in memory at the end, whichever way they were added: the same answers as the one-batch row.
        var rag = comparison.Run(["rag"]).Methods["rag"];
        Assert.Equal(rag.Reliability, result.Curves["rag"][^1].Reliability);
        Assert.Equal(rag.Locality, result.Curves["rag"][^1].Locality);
        foreach (var (p, b) in agent.Model.parameters().Zip(before))
            Assert.Equal(b.data<float>().ToArray(), p.detach().data<float>().ToArray());

        var files = ComparisonReport.Write(result, Path.Combine(directory, "lifelong"));
        Assert.Contains("plots/sequential-locality.png", files);
        Assert.Contains("## Sequential: alphaedit", File.ReadAllText(Path.Combine(directory, "lifelong", "compare.md")));
        var csv = File.ReadAllLines(Path.Combine(directory, "lifelong", "compare.csv"));
        Assert.Equal(1 + result.Curves.Values.Sum(c => c.Count), csv.Length);
        Assert.Contains("efficacy,paraphrase_success,neighborhood_success", csv[0]);
        Assert.Contains("locality,relation_locality,subject_locality", csv[0]);
        // Locality over all neighbours is the mean over both kinds, so it lies between them at every point.
        var split = result.Curves.Values.SelectMany(c => c).Where(p => !double.IsNaN(p.RelationLocality) && !double.IsNaN(p.SubjectLocality)).ToList();
        Assert.NotEmpty(split);
        Assert.All(split, p => Assert.InRange(p.Locality,
            Math.Min(p.RelationLocality, p.SubjectLocality) - 1e-9, Math.Max(p.RelationLocality, p.SubjectLocality) + 1e-9));
    }

    [Fact]
    public void CompareUpdatesLayersMoveWhereMemitWrites()
    {
        // The same changes through MEMIT at its default layer (the last) and at layer 0: --layers reaches the editor.
        JsonElement Memit(string name, params string[] extra)
        {
            var outDir = Path.Combine(directory, name);
            var (_, stderr, exit) = EditorDefaultsTests.Cli(["compare-updates", "--world", TinyGroup.TinyWorld, "--agent", group.ProfilePath, "--cache", group.Cache,
                "--changes", "4", "--methods", "memit", "--no-curves", "--out", outDir, .. extra]);
            Assert.True(exit == 0, stderr);
            return JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "compare.json"))).RootElement;
        }
        var last = Memit("memit-last");
        var first = Memit("memit-layer-0", "--layers", "0");
        Assert.Equal(JsonValueKind.Null, last.GetProperty("editor_overrides").ValueKind);
        Assert.Equal([0], first.GetProperty("editor_overrides").GetProperty("memit").GetProperty("layers").EnumerateArray().Select(l => l.GetInt32()));
        static string Scores(JsonElement run) => string.Join(" / ", new[] { "reliability", "generalization", "locality" }
            .Select(k => run.GetProperty("methods").GetProperty("memit").GetProperty(k).GetDouble().ToString("R", System.Globalization.CultureInfo.InvariantCulture)));
        Assert.NotEqual(Scores(last), Scores(first));
    }

    [Theory]
    [InlineData("--methods", "rome,telepathy", "--methods", "unknown method 'telepathy'")]
    [InlineData("--sequential", "10", "--changes", "leave out --changes")]
    [InlineData("--batch", "3", "--batch", "applies to --sequential runs only")]
    [InlineData("--changes", "0", "--changes", "must be at least 1")]
    [InlineData("--world", "no-such-world.yaml", "--world", "no such file")]
    [InlineData("--ridge", "0.5", "--ridge", "applies to alphaedit, which --methods does not name")]
    [InlineData("--key-prompts", "all", "--key-prompts", "unknown value 'all' (edit or fact)")]
    [InlineData("--covariance-weight", "30", "--covariance-weight", "applies to memit and alphaedit, which --methods does not name")]
    [InlineData("--weight-decay", "0.05", "--weight-decay", "applies to memit and alphaedit, which --methods does not name")]
    [InlineData("--layers", "0", "--layers", "applies to memit and alphaedit, which --methods does not name")]
    [InlineData("--layers", "2,x", "--layers", "'x' is not a layer number")]
    [InlineData("--position", "middle", "--position", "middle")]
    public void TheCliNamesTheOptionOfABadInputWithExitCode2(string option, string value, string field, string message)
    {
        var arguments = new Dictionary<string, string> { ["--world"] = TinyGroup.TinyWorld, ["--changes"] = "3", ["--methods"] = "rag", ["--out"] = Path.Combine(directory, "cli") };
        arguments[option] = value;
        var cli = Path.Combine(AppContext.BaseDirectory, "evolution.dll");
        var process = Process.Start(new ProcessStartInfo("dotnet", [cli, "compare-updates", .. arguments.SelectMany(a => new[] { a.Key, a.Value }), "--cache", group.Cache])
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(2, process.ExitCode);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains($"field '{field}'", stderr);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(Path.Combine(directory, "cli")));
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
