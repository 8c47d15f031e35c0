using System.Diagnostics;
using System.Text.Json;
using Evolution.Agents;
using Evolution.Cli.Commands;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Updates;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary><c>edit</c>, agents and compare-updates make each method's edits with the same, documented hyper-parameters.</summary>
[Collection(TinyGroupCollection.Name)]
public class EditorDefaultsTests(TinyGroup group)
{
    [Fact]
    public void EditUsesTheFtLSettingsAgentsUseTheMeasuredOnes()
    {
        var profile = AgentProfile.Load(group.ProfilePath);
        var trained = AgentTraining.TrainOrLoad(TinyGroup.TinyWorld, profile, File.ReadAllText(group.ProfilePath), group.Cache, CPU);
        var (stdout, stderr, exit) = Cli("edit", "--model", trained.Checkpoint, "--method", "ft-l", "--changes", "1", "--json", "--device", "cpu");
        Assert.True(exit == 0, stderr);
        var reported = JsonDocument.Parse(stdout).RootElement.GetProperty("hyper_params");
        // README, "Update channels compared": FT-L was measured with lr 5e-3, ε 0.02, 25 steps on the last MLP.
        Assert.Equal(0.005, reported.GetProperty("learning_rate").GetDouble());
        Assert.Equal(0.02, reported.GetProperty("norm_constraint").GetDouble());
        Assert.Equal(25, reported.GetProperty("steps").GetInt32());

        // An agent's FT-L edit is, bit for bit, the edit of these settings.
        using var agent = new AgentRuntime("ada", new AgentRuntime.Parts(trained.Model, trained.Tokenizer, trained.World, profile), null);
        var request = EditEvaluation.RequestFor(agent.World, WorldChanges.Select(agent.World, 0, 1)[0]);
        using var byAgent = agent.EditorFor("ft-l").ComputeDelta(agent.Model, agent.Tokenizer, [request]);
        using var byEdit = new FineTuningEditor(new FtLHyperParams([agent.Model.Config.NLayers - 1], reported.GetProperty("steps").GetInt32(),
            reported.GetProperty("learning_rate").GetDouble(), reported.GetProperty("norm_constraint").GetDouble())).ComputeDelta(agent.Model, agent.Tokenizer, [request]);
        Assert.Equal(byEdit.Delta.Keys, byAgent.Delta.Keys);
        foreach (var (name, delta) in byEdit.Delta)
            Assert.True(delta.allclose(byAgent.Delta[name], 0, 0), $"{name} differs");
    }

    internal static (string Stdout, string Stderr, int ExitCode) Cli(params string[] arguments)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "evolution.dll");
        var process = Process.Start(new ProcessStartInfo("dotnet", [cli, .. arguments]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (stdout, stderr.Result, process.ExitCode);
    }

    [Fact]
    public void EditsHelpStatesTheDefaultsThatRun()
    {
        var options = EditCommand.Create().Options.ToDictionary(o => o.Name, o => o.Description ?? "");
        // The documented defaults: ROME's lr 0.5 (the paper's), FT-L's measured lr 5e-3 and ε 0.02.
        Assert.Contains("rome 0.5", options["--learning-rate"]);
        Assert.Contains("ft-l 0.005", options["--learning-rate"]);
        Assert.Contains("default 0.02", options["--norm-constraint"]);
        Assert.DoesNotContain("5e-4)", options["--learning-rate"]);
    }
}

/// <summary><c>compare-updates</c> without <c>--changes</c>: the world's changes at the epoch after the agent's.</summary>
public class CompareUpdatesDefaultsTests : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-compare-defaults").FullName;

    [Fact]
    public void CompareUpdatesTakesAsManyChangesAsTheWorldHasAtTheNextEpoch()
    {
        // An untrained one-layer agent of the tiny world: how many changes are compared does not depend on its weights.
        var world = TinyGroup.World();
        var tokenizer = CompactTokenizer.Build(WorldTexts.All(world));
        using (var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 128, DModel = 16, NLayers = 1, NHeads = 1 }, 1))
            Checkpoint.Save(Path.Combine(directory, "agent"), model, tokenizer, new Dictionary<string, string>
            {
                [AgentTraining.WorldFile] = File.ReadAllText(TinyGroup.TinyWorld),
                [AgentTraining.ProfileFile] = "name: untrained\nmodel: {layers: 1, d_model: 16, heads: 1, context: 128}\n",
            });
        var (stdout, stderr, exit) = EditorDefaultsTests.Cli("compare-updates", "--model", Path.Combine(directory, "agent"), "--methods", "none", "--no-curves", "--json",
            "--out", Path.Combine(directory, "out"), "--device", "cpu");
        Assert.True(exit == 0, stderr);
        // scenarios/worlds/tiny.yaml: 2 works_for and 1 capital change at epoch 1.
        Assert.Equal(3, JsonDocument.Parse(stdout).RootElement.GetProperty("changes").GetInt32());
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
