using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;
using Evolution.Updates.FactSets;

namespace Evolution.Scenarios.Tests;

/// <summary>Every shipped scenario, world and agent profile is read as the CLI reads it; a file added to these folders is covered without a new test.</summary>
public class ShippedFileTests
{
    static IEnumerable<string> Files(params string[] folder) =>
        Directory.GetFiles(Path.Combine([TinyGroup.RepositoryRoot, .. folder]), "*.yaml").Order();

    public static TheoryData<string> Scenarios() => [.. Files("scenarios")];
    public static TheoryData<string> Worlds() => [.. Files("scenarios", "worlds")];
    public static TheoryData<string> Agents() => [.. Files("agents")];
    static IEnumerable<string> FactFiles() => Directory.GetFiles(Path.Combine(TinyGroup.RepositoryRoot, "scenarios", "facts"), "*.json").Order();
    public static TheoryData<string> FactSets() => [.. FactFiles()];

    [Theory, MemberData(nameof(Scenarios))]
    public void AShippedScenarioParses(string path)
    {
        var scenario = Scenario.Load(path);
        Assert.True(scenario.Agents.Count > 0 || scenario.Population is { Agents: > 0 }, $"{path} has neither agents nor a population");
        Assert.NotEmpty(scenario.Steps);
    }

    [Theory, MemberData(nameof(Worlds))]
    public void AShippedWorldGenerates(string path) => Assert.NotEmpty(World.Generate(WorldSpec.Load(path)).FactsAt(0));

    [Theory, MemberData(nameof(Agents))]
    public void AShippedAgentProfileParsesAndFitsTheDefaultWorld(string path)
    {
        var profile = AgentProfile.Load(path);
        profile.Data.Validate(World.Generate(WorldSpec.Load(Path.Combine(TinyGroup.RepositoryRoot, ShippedFiles.DefaultWorld))), path);
    }

    [Theory, MemberData(nameof(FactSets))]
    public void AShippedFactSetReads(string path)
    {
        var facts = FactSet.Load(path);
        Assert.NotEmpty(facts.Records);
        Assert.All(facts.Records, r => Assert.Contains(r.Subject, r.Prompt));
    }

    [Fact]
    public void EveryFolderHoldsItsShippedFiles()
    {
        Assert.Contains(Files("scenarios"), f => Path.GetFileName(f) == "quickstart.yaml");
        Assert.Contains(Files("scenarios", "worlds"), f => Path.GetFileName(f) == "default.yaml");
        Assert.Contains(Files("agents"), f => Path.GetFileName(f) == "default.yaml");
        Assert.Equal(["counterfact-sample.json", "zsre-sample.json"], FactFiles().Select(Path.GetFileName));
    }

    [Fact]
    public void TheBuiltInFilesAreTheRepositoryFiles()
    {
        foreach (var path in new[] { ShippedFiles.DefaultAgent, ShippedFiles.DefaultWorld })
            Assert.Equal(File.ReadAllText(Path.Combine(TinyGroup.RepositoryRoot, path)), ShippedFiles.Text(path));
    }
}
