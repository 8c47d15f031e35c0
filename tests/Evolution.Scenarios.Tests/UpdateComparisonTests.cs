using System.Diagnostics;
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
        foreach (var (method, s) in result.Methods)
        {
            foreach (var (name, value) in new[] { ("reliability", s.Reliability), ("generalization", s.Generalization), ("locality", s.Locality), ("portability", s.Portability) })
                Assert.True(value is >= 0 and <= 1, $"{method} {name} = {value}");
            Assert.True(s.Fluency > 0, $"{method} fluency {s.Fluency}");
            Assert.True(s.SecondsPerQuery > 0 && s.SecondsPerUpdate >= 0 && s.BytesStored >= 0, method);
            Assert.Equal(method is "rag" or "hybrid", s.RecallAtK is not null);
            Assert.Equal(method is "rag" or "hybrid" ? RetrievalScope.Subject : null, s.Scope); // the agent's defaults, recorded with the scores
            Assert.Equal(method is "rag" or "hybrid" ? RetrievalQuery.Question : null, s.Query);
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

    [Theory]
    [InlineData("--methods", "rome,telepathy", "--methods", "unknown method 'telepathy'")]
    [InlineData("--changes", "0", "--changes", "must be at least 1")]
    [InlineData("--world", "no-such-world.yaml", "--world", "no such file")]
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
