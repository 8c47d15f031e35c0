using System.Security.Cryptography;
using System.Text.Json;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Worlds;
using Evolution.Updates;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary><c>edit --save</c>: the edited agent as a checkpoint of its own; the source stays as it was.</summary>
[Collection(TinyGroupCollection.Name)]
public class EditSaveTests(TinyGroup group) : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-edit-save").FullName;

    string Source()
    {
        var trained = AgentTraining.TrainOrLoad(TinyGroup.TinyWorld, AgentProfile.Load(group.ProfilePath), File.ReadAllText(group.ProfilePath), group.Cache, CPU);
        trained.Model.Dispose();
        return trained.Checkpoint;
    }

    static string Hash(string folder) =>
        string.Join(",", Directory.EnumerateFiles(folder).Order().Select(f => $"{Path.GetFileName(f)}:{Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(f)))}"));

    [Fact]
    public void TheSavedAgentGivesTheNewObjectsAndTheSourceIsUnchanged()
    {
        var source = Source();
        var sourceFiles = Hash(source);
        var saved = Path.Combine(directory, "edited");
        var (stdout, stderr, exit) = EditorDefaultsTests.Cli("edit", "--model", source, "--method", "rome", "--changes", "2", "--save", saved, "--json", "--device", "cpu");
        Assert.True(exit == 0, stderr);
        Assert.Equal(Path.GetFullPath(saved), JsonDocument.Parse(stdout).RootElement.GetProperty("saved").GetString());
        Assert.Equal(sourceFiles, Hash(source));

        // A checkpoint of its own: the world and profile that ask, trace, edit and compare-updates --model read, the edits it holds, no training report of other weights.
        Assert.Equal(File.ReadAllText(Path.Combine(source, AgentTraining.WorldFile)), File.ReadAllText(Path.Combine(saved, AgentTraining.WorldFile)));
        Assert.Equal(File.ReadAllText(Path.Combine(source, AgentTraining.ProfileFile)), File.ReadAllText(Path.Combine(saved, AgentTraining.ProfileFile)));
        Assert.False(File.Exists(Path.Combine(saved, AgentTraining.ReportFile)));
        var note = JsonDocument.Parse(File.ReadAllText(Path.Combine(saved, "edit.json"))).RootElement;
        Assert.Equal("one after another", note.GetProperty("applied").GetString());
        Assert.Equal(2, note.GetProperty("edits").GetArrayLength());
        Assert.Empty(Directory.EnumerateFileSystemEntries(directory, ".*")); // no temporary folder left

        // Both edits, applied one after another, are in the saved weights; the source's weights give neither new object.
        var world = TinyGroup.World();
        var changes = WorldChanges.Select(world, 0, 2);
        var questions = changes.Select(c => new ProbeQuestion(c.Subject, c.Relation, EditEvaluation.RequestFor(world, c).Prompt,
            world.CandidateAnswers(RelationCatalogue.Get(c.Relation).ObjectType))).ToList();
        var (edited, tokenizer) = Checkpoint.Load(saved);
        using (edited)
            Assert.Equal(changes.Select(c => " " + world[c.NewObject].Name), EditMetrics.Weights(edited, tokenizer)(questions).Select(a => a.Answer));
        var (original, originalTokenizer) = Checkpoint.Load(source);
        using (original)
            Assert.All(EditMetrics.Weights(original, originalTokenizer)(questions).Zip(changes), x => Assert.NotEqual(" " + world[x.Second.NewObject].Name, x.First.Answer));
    }

    [Theory]
    [InlineData("source", "is the source checkpoint")]
    [InlineData("occupied", "holds something other than a checkpoint")]
    public void SaveRefusesToReplaceTheSourceOrAnotherFolder(string target, string message)
    {
        var source = Source();
        var occupied = Path.Combine(directory, "occupied");
        Directory.CreateDirectory(occupied);
        File.WriteAllText(Path.Combine(occupied, "notes.txt"), "mine");
        var (_, stderr, exit) = EditorDefaultsTests.Cli("edit", "--model", source, "--method", "ft-l", "--changes", "1", "--save", target == "source" ? source : occupied, "--device", "cpu");
        Assert.Equal(2, exit);
        Assert.Contains("field '--save'", stderr);
        Assert.Contains(message, stderr);
        Assert.Equal("mine", File.ReadAllText(Path.Combine(occupied, "notes.txt")));
        Assert.True(File.Exists(Path.Combine(source, Checkpoint.WeightsFile)));
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
