using System.Diagnostics;
using System.Text.Json;
using Evolution.Agents;
using Evolution.Cli.Commands;
using Evolution.Core.Agents;
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
        var cli = Path.Combine(AppContext.BaseDirectory, "evolution.dll");
        var process = Process.Start(new ProcessStartInfo("dotnet", [cli, "edit", "--model", trained.Checkpoint, "--method", "ft-l", "--changes", "1", "--json", "--device", "cpu"])
            { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, stderr);
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
