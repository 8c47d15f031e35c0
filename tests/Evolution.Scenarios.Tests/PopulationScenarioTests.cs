using System.Text.Json;
using Evolution.Agents.Recording;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Scenarios.Population;

namespace Evolution.Scenarios.Tests;

/// <summary>
/// Population scenarios end to end on the tiny world: a run writes the population's adoption curves into summary.json,
/// is deterministic, resumes after a SIGKILL mid-spread to the uninterrupted summary, and malformed population blocks are
/// refused before any work, naming file, line and field.
/// </summary>
[Collection(TinyGroupCollection.Name)]
public class PopulationScenarioTests(TinyGroup group)
{
    string Write(string name, string population, string spread = DefaultSpread) => WriteScenario(group.Directory, name, population, spread);

    const string DefaultSpread = "{epoch: 1, facts: 2, seeded: 0.2, rumour: 0.1, steps: 6, reads: 3}";

    /// <summary>A population scenario on the tiny world in <paramref name="directory"/> (profiles resolved there): one spread step.</summary>
    public static string WriteScenario(string directory, string name, string population, string spread = DefaultSpread)
    {
        var path = Path.Combine(directory, name + ".yaml");
        File.WriteAllText(path, $"""
            name: {name}
            seed: 4
            world: {TinyGroup.TinyWorld}
            population:
            {population}
            steps:
              - spread: {spread}
            """);
        return path;
    }

    public const string Population = """
          agents: 120
          bases:
            - {profile: tiny-social.yaml, seed: 1}
            - {profile: tiny-social.yaml, seed: 2, share: 2}
          network: {topology: small-world, degree: 4, rewire: 0.2}
          keep_own_above: {uniform: [0.3, 1.0]}
          update: {rag: 1, rome: 1, none: 1}
        """;

    [Fact]
    public void APopulationRunWritesItsAdoptionCurvesAndTheSameSeedGivesTheSameSummary()
    {
        var scenario = Write("population", Population);
        var first = Path.Combine(group.Directory, "runs", "population-1");
        var second = Path.Combine(group.Directory, "runs", "population-2");
        var result = ScenarioRunner.Run(Scenario.Load(scenario), group.Options(first), force: true);
        ScenarioRunner.Run(Scenario.Load(scenario), group.Options(second), force: true);
        var summary = File.ReadAllText(Path.Combine(first, RunResults.SummaryFile));
        // The run command's table reads a spread step's line from the population section.
        var headline = Cli.Commands.RunCommand.Headline(result.Summary.Steps[0], result.Summary.Population!.Spreads[0]);
        Assert.StartsWith("120 agents, 2 facts, 6 steps: true ", headline);
        Assert.Equal(summary, File.ReadAllText(Path.Combine(second, RunResults.SummaryFile)));

        var population = JsonDocument.Parse(summary).RootElement.GetProperty("population");
        Assert.Equal(120, population.GetProperty("agents").GetInt32());
        var adoption = population.GetProperty("adoption");
        foreach (var kind in new[] { "true", "rumour", "old" })
            Assert.Equal(7, adoption.GetProperty(kind).GetArrayLength());
        // Step 0: the told agents (a fifth of the two thirds that can learn) and no one else have been told the news.
        double told = adoption.GetProperty("true")[0].GetDouble();
        Assert.InRange(told, 0.05, 0.2);
        var spread = population.GetProperty("spreads")[0].GetProperty("spread");
        Assert.True(spread.GetProperty("herd").GetArrayLength() == 2);
        Assert.Contains(spread.GetProperty("groupings").EnumerateArray(), g => g.GetProperty("grouping").GetString() == "channel");
        Assert.True(File.Exists(Path.Combine(first, RunResults.PlotsDirectory, "spread-adoption-step0.png")));
        using var db = new RunDatabase(Path.Combine(first, RunDatabase.FileName));
        Assert.Equal(7, new SpreadLog(db, 0).Rounds().Count);

        // The mechanism of the answers read with neighbours who said otherwise: per round, as many answers as run.db's records cover.
        var traces = new SpreadLog(db, 0).Traces();
        var mechanism = population.GetProperty("spreads")[0].GetProperty("mechanism").EnumerateArray().ToList();
        Assert.NotEmpty(mechanism);
        Assert.Equal(traces.Select(t => t.Step).Distinct().Order(), mechanism.Select(m => m.GetProperty("round").GetInt32()));
        foreach (var round in mechanism)
        {
            var stored = traces.Where(t => t.Step == round.GetProperty("round").GetInt32()).ToList();
            Assert.Equal(stored.Count, round.GetProperty("records").GetInt32());
            Assert.Equal(stored.Sum(t => SpreadLog.AgentsOf(t).Length), round.GetProperty("all").GetProperty("answers").GetInt32());
            Assert.Equal(round.GetProperty("all").GetProperty("answers").GetInt32(), round.GetProperty("by_channel").EnumerateArray().Sum(c => c.GetProperty("answers").GetInt32()));
        }
        Assert.Contains("Mechanism of the answers read with neighbours who said otherwise", File.ReadAllText(Path.Combine(first, RunResults.ReportFile)));
    }

    [Fact]
    public async Task APopulationRunKilledMidSpreadResumesToTheSummaryOfAnUninterruptedRun()
    {
        var scenario = Write("population-resume", Population, "{epoch: 1, facts: 2, seeded: 0.2, rumour: 0.1, steps: 30, reads: 3}");
        var killed = Path.Combine(group.Directory, "runs", "population-killed");
        await group.KillRunAt(scenario, killed, "3/30");

        using (var db = new RunDatabase(Path.Combine(killed, RunDatabase.FileName)))
        {
            Assert.Equal("running", db.Info!.Status);
            int rounds = new SpreadLog(db, 0).Rounds().Count;
            Assert.InRange(rounds, 4, 30);
        }
        Assert.False(File.Exists(Path.Combine(killed, RunResults.SummaryFile)));
        // The run's one memory store may hold commits of a round run.db did not record; here also one no round made.
        SpreadTests.WriteStaleMemory(PopulationRun.MemoryPath(killed));

        ScenarioRunner.Resume(killed, group.Options(killed));
        var uninterrupted = Path.Combine(group.Directory, "runs", "population-uninterrupted");
        ScenarioRunner.Run(Scenario.Load(scenario), group.Options(uninterrupted), force: true);
        Assert.Equal(File.ReadAllText(Path.Combine(uninterrupted, RunResults.SummaryFile)), File.ReadAllText(Path.Combine(killed, RunResults.SummaryFile)));
        var memories = SpreadTests.StoredMemories(PopulationRun.MemoryPath(uninterrupted));
        Assert.NotEmpty(memories);
        Assert.Equal(memories, SpreadTests.StoredMemories(PopulationRun.MemoryPath(killed)));
    }

    [Fact]
    public void MalformedPopulationsAreRefusedNamingFileLineAndField()
    {
        var unknownBase = Write("bad-base", Population.Replace("profile: tiny-social.yaml, seed: 1", "profile: nowhere.yaml, seed: 1"));
        var e = Assert.Throws<InputException>(() => Scenario.Load(unknownBase));
        Assert.Equal((unknownBase, "population.bases[0].profile"), (e.File, e.Field));
        Assert.Equal(7, e.Line);
        Assert.Contains("unknown base", e.Message);

        var badDistribution = Write("bad-distribution", Population.Replace("{uniform: [0.3, 1.0]}", "{uniform: [0.9, 0.2]}"));
        e = Assert.Throws<InputException>(() => Scenario.Load(badDistribution));
        Assert.Equal("population.keep_own_above.uniform", e.Field);
        e = Assert.Throws<InputException>(() => Scenario.Load(Write("bad-kind", Population.Replace("{uniform: [0.3, 1.0]}", "{poisson: [3, 1]}"))));
        Assert.Equal("population.keep_own_above", e.Field);

        var edges = Path.Combine(group.Directory, "population-edges.csv");
        File.WriteAllText(edges, "source,target\n0,1\n1,2\n2,120\n");
        e = Assert.Throws<InputException>(() => Scenario.Load(Write("bad-edges", Population.Replace("{topology: small-world, degree: 4, rewire: 0.2}", $"{{topology: edge-list, edges: {edges}}}"))));
        Assert.Equal((edges, "edge", 4), (e.File, e.Field, e.Line));
        Assert.Contains("'120'", e.Message);

        e = Assert.Throws<InputException>(() => Scenario.Load(Write("bad-channel", Population.Replace("none: 1", "alphaedit: 1"))));
        Assert.Equal("population.update.alphaedit", e.Field);
        var mixed = Path.Combine(group.Directory, "mixed.yaml");
        File.WriteAllText(mixed, File.ReadAllText(Write("mixed", Population)).Replace("  - spread:", "  - quiz: {facts: 3}\n  - spread:"));
        e = Assert.Throws<InputException>(() => Scenario.Load(mixed));
        Assert.Contains("spread steps only", e.Message);

        e = Assert.Throws<InputException>(() => Scenario.Load(Write("bad-circuits", Population, "{epoch: 1, facts: 2, steps: 2, circuit_facts: 3}")));
        Assert.Equal("steps[0].spread.circuit_facts", e.Field);
        Assert.Contains("got 3", e.Message);
    }

    [Fact]
    public void FollowedAgentsConformityCircuitsAreFoundBeforeTheNewsAndAfterTheSpreadAndMoveOnlyWhereTheAgentLearned()
    {
        var scenario = Write("population-circuits", Population, "{epoch: 1, facts: 2, seeded: 0.5, rumour: 0.1, steps: 2, reads: 3, circuit_facts: 2, circuit_agents: 1}");
        var run = Path.Combine(group.Directory, "runs", "population-circuits");
        var result = ScenarioRunner.Run(Scenario.Load(scenario), group.Options(run), force: true);
        var followed = result.Summary.Population!.Spreads[0].ConformityCircuits!;
        Assert.Equal(["none", "rag", "rome"], followed.Select(c => c.Channel).Order());
        foreach (var c in followed)
        {
            Assert.True(c.Before.Contrasts > 0 && c.After.Contrasts > 0, $"{c.Agent}: {c.Before.Contrasts} / {c.After.Contrasts} contrasts");
            Assert.Equal(4, c.Before.HeadScores.Count); // every head of the tiny agents (2 layers of 2) is ranked
        }
        // An agent without a channel holds the same weights and memory after the spread: the same circuit to the last digit.
        var unable = followed.Single(c => c.Channel == "none");
        Assert.Empty(unable.Committed);
        Assert.Equal(unable.Before.HeadScores, unable.After.HeadScores);
        Assert.Equal((1.0, 1.0), (unable.TopHeadJaccard, unable.HeadRankCorrelation));
        // The told ROME agent wrote the news into its weights: its conformity circuit on those facts moved.
        var edited = followed.Single(c => c.Channel == "rome");
        Assert.NotEmpty(edited.Committed);
        double moved = edited.Before.HeadScores.Max(h => Math.Abs(h.Value - edited.After.HeadScores[h.Key]));
        Assert.True(moved > 1e-3, $"{edited.Agent}: head scores moved by at most {moved:G3} after committing {string.Join("; ", edited.Committed)}");

        using var db = new RunDatabase(Path.Combine(run, RunDatabase.FileName));
        Assert.Equal(6, db.Traces.Find(t => t.Kind == PopulationRun.CircuitKind).Count());
        Assert.Contains("Conformity circuits of followed agents", File.ReadAllText(Path.Combine(run, RunResults.ReportFile)));
    }
}
