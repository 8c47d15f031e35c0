using System.Text.Json;
using Evolution.Agents;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Updates;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary><see cref="EditCircuits"/> and <c>compare-updates --circuits</c>: how an edit rewires the edited fact's circuit.</summary>
[Collection(TinyGroupCollection.Name)]
public class EditCircuitsTests(TinyGroup group) : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-edit-circuits").FullName;

    /// <summary>An editor that writes nothing: the "edited" model is the untouched one.</summary>
    sealed class NoEdit : IKnowledgeEditor
    {
        public string Name => "none";
        public WeightDelta ComputeDelta(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests) => new([], []);
    }

    [Fact]
    public void AnEditThatChangesNothingLeavesTheCircuitAsItWas()
    {
        using var agent = group.Runtime("ada", 1);
        var changes = WorldChanges.Select(agent.World, 0, 4);
        IReadOnlyList<string> methods = ["rome", "memit"]; // one change at a time, and one batch

        // The facts restated (new object = old object): before and after are the same model and target, so the same circuit.
        var restated = changes.Select(c => c with { NewObject = c.OldObject }).ToList();
        var same = EditCircuits.Compare(agent.Model, agent.Tokenizer, agent.World, 0, restated, methods, _ => new NoEdit(), new EditCircuitOptions(Facts: 3));
        Assert.Equal(3, same.Facts);
        Assert.Equal(methods, same.Channels.Keys);
        foreach (var c in same.Channels.Values.Append(same.Untouched))
        {
            Assert.True(c.Traced > 0, "no fact of the tiny world could be traced");
            Assert.Equal((1.0, 1.0, 1.0, 0.0, 0.0), (c.EdgeJaccard, c.SameTargetJaccard, c.WeightedOverlap, c.EdgesGained, c.EdgesLost));
            Assert.Empty(c.NodesGained);
            Assert.Empty(c.NodesLost);
            Assert.Equal(c.MoversBefore, c.MoversAfter);
            Assert.Equal(c.NewObject.Before.ByLayer, c.NewObject.After.ByLayer);
        }

        // The real changes without an edit: the new object's circuit and lens are the untouched model's, whatever the channel.
        var real = EditCircuits.Compare(agent.Model, agent.Tokenizer, agent.World, 0, changes, methods, _ => new NoEdit(), new EditCircuitOptions(Facts: 3));
        foreach (var c in real.Channels.Values)
        {
            Assert.Equal(1.0, c.SameTargetJaccard);
            Assert.Equal(real.Untouched.EdgeJaccard, c.EdgeJaccard);
            Assert.Equal(real.Untouched.MoversAfter, c.MoversAfter);
            Assert.Equal(c.NewObject.Before.ByLayer, c.NewObject.After.ByLayer);
            Assert.Equal(c.OldObject.Before.ByLayer, c.OldObject.After.ByLayer);
        }
        Assert.True(real.Untouched.EdgeJaccard < 1, "a circuit for another target should differ somewhere");
    }

    [Fact]
    public void ARomeEditRewiresTheNewObjectsCircuitAndTheModelIsRestored()
    {
        using var agent = group.Runtime("ada", 1);
        var changes = WorldChanges.Select(agent.World, 0, 4);
        var before = agent.Model.parameters().Select(p => p.detach().clone()).ToList();

        var report = EditCircuits.Compare(agent.Model, agent.Tokenizer, agent.World, 0, changes, ["rome", "rag"], m => agent.EditorFor(m), new EditCircuitOptions(Facts: 4));

        Assert.Equal(["rome"], report.Channels.Keys); // retrieval writes no weights
        var rome = report.Channels["rome"];
        Assert.Equal("each alone", rome.Applied);
        Assert.True(rome.Traced >= 2, $"traced {rome.Traced} of 4");
        Assert.Equal(rome.Traced / 4.0, rome.TracedShare);
        Assert.True(rome.SameTargetJaccard < 1, "the edited weights carry the new object by other edges");
        Assert.True(rome.EdgesGained > 0 && rome.EdgesLost > 0);
        Assert.NotEmpty(rome.NodesGained);
        // The untouched model never ranks the new objects top at the last layer; ROME's edits make it do so for most of them.
        int never(FirstTop t) => t.ByLayer["never"];
        Assert.True(never(rome.NewObject.After) < never(rome.NewObject.Before), $"new object never top: {never(rome.NewObject.Before)} before, {never(rome.NewObject.After)} after");
        Assert.Equal(rome.Traced, rome.NewObject.After.ByLayer.Values.Sum());

        // Every edit was undone: the weights are the trained ones, bit for bit.
        foreach (var (p, b) in agent.Model.parameters().Zip(before))
            Assert.Equal(b.data<float>().ToArray(), p.detach().data<float>().ToArray());
    }

    [Fact]
    public void CompareUpdatesWritesTheCircuitSectionWithCircuits()
    {
        var outDir = Path.Combine(directory, "out");
        var (stdout, stderr, exit) = EditorDefaultsTests.Cli("compare-updates", "--world", TinyGroup.TinyWorld, "--agent", group.ProfilePath, "--cache", group.Cache,
            "--changes", "3", "--methods", "ft-l,rag", "--no-curves", "--circuits", "--circuit-facts", "2", "--json", "--out", outDir, "--device", "cpu");
        Assert.True(exit == 0, stderr);
        var circuits = JsonDocument.Parse(stdout).RootElement.GetProperty("circuits");
        Assert.Equal(2, circuits.GetProperty("facts").GetInt32());
        var ftL = circuits.GetProperty("channels").GetProperty("ft-l");
        Assert.Equal("each alone", ftL.GetProperty("applied").GetString());
        Assert.InRange(ftL.GetProperty("edge_jaccard").GetDouble(), 0, 1);
        Assert.True(ftL.GetProperty("new_object").GetProperty("after").GetProperty("by_layer").TryGetProperty("never", out _));
        Assert.False(circuits.GetProperty("channels").TryGetProperty("rag", out _));
        Assert.Contains("## Circuits before and after the edits", File.ReadAllText(Path.Combine(outDir, "compare.md")));
        Assert.True(new FileInfo(Path.Combine(outDir, "plots", "circuits.png")).Length > 0);
        Assert.Equal(JsonDocument.Parse(File.ReadAllText(Path.Combine(outDir, "compare.json"))).RootElement.GetProperty("circuits").ToString(), circuits.ToString());
    }

    [Theory]
    [InlineData("--circuit-facts", "0", "--circuit-facts", "must be at least 1")]
    [InlineData("--circuit-facts", "5", "--circuit-facts", "applies with --circuits only")]
    [InlineData("--methods", "rag", "--circuits", "needs a channel that writes weights")]
    [InlineData("--sequential", "3", "--circuits", "not to --sequential runs")]
    public void BadCircuitOptionsNameTheOption(string option, string value, string field, string message)
    {
        var arguments = new List<string> { "compare-updates", "--world", TinyGroup.TinyWorld, "--methods", "rome", "--out", Path.Combine(directory, "bad"), "--cache", group.Cache };
        if (option != "--circuit-facts" || value == "0") arguments.Add("--circuits");
        if (option == "--methods") arguments[arguments.IndexOf("rome")] = value;
        else arguments.AddRange([option, value]);
        var (_, stderr, exit) = EditorDefaultsTests.Cli([.. arguments]);
        Assert.Equal(2, exit);
        Assert.Contains($"field '{field}'", stderr);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
