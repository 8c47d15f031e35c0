using Evolution.Agents.Recording;
using Evolution.Core;

namespace Evolution.Scenarios.Tests;

/// <summary><c>run --force</c> deletes only what a run writes and never a folder that holds anything else.</summary>
public class RunFolderTests : IDisposable
{
    readonly string root = Directory.CreateTempSubdirectory("evolution-runfolder-").FullName;

    public void Dispose() => Directory.Delete(root, recursive: true);

    string RunLikeFolder()
    {
        var dir = Path.Combine(root, "run");
        Directory.CreateDirectory(Path.Combine(dir, RunResults.PlotsDirectory));
        Directory.CreateDirectory(Path.Combine(dir, RunFolder.MemoryDirectory));
        foreach (var file in new[] { RunDatabase.FileName, "run-log.db", RunResults.SummaryFile, RunResults.MetricsFile, RunResults.ReportFile,
                     Path.Combine(RunResults.PlotsDirectory, "quiz.png"), Path.Combine(RunFolder.MemoryDirectory, "ada.db"), ".summary.123.abc.tmp.json" })
            File.WriteAllText(Path.Combine(dir, file), "x");
        return dir;
    }

    [Fact]
    public void ForceDeletesExactlyWhatARunWrites()
    {
        var dir = RunLikeFolder();
        RunFolder.Prepare(dir, force: true);
        Assert.True(Directory.Exists(dir));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir));
    }

    [Fact]
    public void WithoutForceAFolderHoldingARunIsRefusedAndKept()
    {
        var dir = RunLikeFolder();
        var error = Assert.Throws<InputException>(() => RunFolder.Prepare(dir, force: false));
        Assert.Contains("--force", error.Message);
        Assert.True(File.Exists(Path.Combine(dir, RunDatabase.FileName)));
    }

    [Theory]
    [InlineData("notes.txt")]
    [InlineData("plots/notes.txt")]
    [InlineData("memory/keep.txt")]
    [InlineData("data/run.db")]
    public void ForceRefusesAFolderThatHoldsAnythingElseAndDeletesNothing(string foreign)
    {
        var dir = RunLikeFolder();
        var path = Path.Combine(dir, foreign);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "precious");
        var before = Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Length;

        var error = Assert.Throws<InputException>(() => RunFolder.Prepare(dir, force: true));
        Assert.Contains(foreign.Split('/')[0], error.Message);
        Assert.Equal("precious", File.ReadAllText(path));
        Assert.Equal(before, Directory.GetFiles(dir, "*", SearchOption.AllDirectories).Length);
    }

    [Fact]
    public void ANewOrEmptyFolderIsReadyWithoutForce()
    {
        var fresh = Path.Combine(root, "new", "run");
        RunFolder.Prepare(fresh, force: false);
        Assert.True(Directory.Exists(fresh));
        RunFolder.Prepare(fresh, force: false);
    }
}
