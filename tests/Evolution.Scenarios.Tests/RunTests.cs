using Evolution.Agents.Recording;

namespace Evolution.Scenarios.Tests;

[Collection(TinyGroupCollection.Name)]
public class RunTests(TinyGroup group)
{
    const string Steps = """
          - quiz: {facts: 12}
          - news: {epoch: 1, learners: [ada]}
          - debate: {facts: news, rounds: 2, topology: all-to-all}
          - consolidate: {}
          - conformity: {facts: 10, wrong_peers: [0, 1, 3], right_guidance: true, ally: true}
          - convergence: {probes: 12, k: 3}
        """;

    string Run(string scenario, string name)
    {
        var output = Path.Combine(group.Directory, "runs", name);
        ScenarioRunner.Run(Scenario.Load(scenario), group.Options(output), force: true);
        return output;
    }

    [Fact]
    public void TheSameScenarioAndSeedGiveTheSameSummary()
    {
        var scenario = group.WriteScenario("determinism", Steps);
        var first = Run(scenario, "determinism-1");
        var second = Run(scenario, "determinism-2");
        var summary = File.ReadAllText(Path.Combine(first, RunResults.SummaryFile));
        Assert.Equal(summary, File.ReadAllText(Path.Combine(second, RunResults.SummaryFile)));
        Assert.Contains("\"wrong_majority_adoption\"", summary);
        // the debate's graph is in the summary: three agents all-to-all are a triangle
        var network = System.Text.Json.JsonDocument.Parse(summary).RootElement.GetProperty("steps")[2].GetProperty("debates")[0].GetProperty("network");
        Assert.Equal((3, 2.0, 1.0), (network.GetProperty("edges").GetInt32(), network.GetProperty("mean_degree").GetDouble(), network.GetProperty("mean_clustering").GetDouble()));
        using var db = new RunDatabase(Path.Combine(first, RunDatabase.FileName));
        Assert.Equal("finished", db.Info!.Status);
        Assert.Equal(6, db.Steps.Count());
        // quiz 3×12, debate 3 agents × 3 rounds × the tiny world's 3 changes, conformity 3 agents × 10 facts × (alone + 2 wrong + 2 right + 1 ally)
        Assert.Equal(3 * 12 + 3 * 3 * 3 + 3 * 10 * 6, db.Answers.Count());
        // With an ally (one of the three confederates states the truth) the majority is still the wrong answer.
        var allied = db.Answers.FindAll().Where(a => a.Condition == "ally=3").ToList();
        Assert.Equal(30, allied.Count);
        Assert.All(allied, a => Assert.Equal((3, 2), (a.Peers, a.WrongPeers)));
        Assert.All(allied, a => Assert.NotEqual(a.Truth, a.PeerMajority));
        var allyAdoption = System.Text.Json.JsonDocument.Parse(summary).RootElement.GetProperty("steps")[4].GetProperty("conformity_by_agent")[0].GetProperty("ally_adoption");
        Assert.InRange(allyAdoption.GetProperty("3").GetDouble(), 0, 1);

        // Every answer read with wrong confederates the agent disagreed with carries its mechanism record, and the step
        // summarises them per agent; answers alone, or with peers who agreed, carry none.
        var pressed = db.Answers.FindAll().Where(a => a.Protocol == "conformity" && a.Condition.StartsWith("wrong") && a.ReadPeers
            && a.PeerConsensus is { } said && said.TrimStart() != a.OwnAnswer.TrimStart()).ToList();
        Assert.NotEmpty(pressed);
        Assert.True(pressed.Count(a => a.PeerTrace is not null) >= pressed.Count * 9 / 10, $"{pressed.Count(a => a.PeerTrace is not null)} of {pressed.Count} traced");
        Assert.All(db.Answers.FindAll().Where(a => a.Peers == 0), a => Assert.Null(a.PeerTrace));
        foreach (var a in pressed.Where(a => a.PeerTrace is not null))
        {
            Assert.Equal(a.PeerConsensus!.TrimStart(), a.PeerTrace!.PeersAnswer);
            Assert.InRange(a.PeerTrace.TopReaderShare, 0, 1);
            Assert.Equal(2, a.PeerTrace.AttentionToPeersByLayer.Count); // the tiny agents have 2 layers
        }
        var conformity = System.Text.Json.JsonDocument.Parse(summary).RootElement.GetProperty("steps")[4].GetProperty("peer_pressure");
        Assert.Equal(3, conformity.GetArrayLength());
        Assert.All(conformity.EnumerateArray(), agent => Assert.InRange(agent.GetProperty("conform_share").GetDouble(), 0, 1));
    }

    [Fact]
    public async Task ARunKilledMidDebateResumesToTheSummaryOfAnUninterruptedRun()
    {
        // A long debate on every fact, so the kill lands in it.
        var steps = """
              - quiz: {facts: 10}
              - news: {epoch: 1, learners: [ada]}
              - debate: {facts: all, rounds: 12, topology: ring}
              - conformity: {facts: 6, wrong_peers: [0, 2]}
            """;
        var scenario = group.WriteScenario("resume", steps);
        var killed = Path.Combine(group.Directory, "runs", "resume-killed");
        // Killed once the debate's round 2 starts, so the kill lands in it.
        await group.KillRunAt(scenario, killed, "debate: round 2");

        int recordedBeforeResume;
        using (var db = new RunDatabase(Path.Combine(killed, RunDatabase.FileName)))
        {
            Assert.Equal("running", db.Info!.Status);
            Assert.False(db.StepDone(3), "the kill must land before the run's end");
            recordedBeforeResume = db.Answers.Count();
            Assert.True(recordedBeforeResume > 30, $"answers written before the kill must survive it ({recordedBeforeResume})");
        }
        Assert.False(File.Exists(Path.Combine(killed, RunResults.SummaryFile)));

        ScenarioRunner.Resume(killed, group.Options(killed));
        var uninterrupted = Run(scenario, "resume-uninterrupted");
        Assert.Equal(File.ReadAllText(Path.Combine(uninterrupted, RunResults.SummaryFile)), File.ReadAllText(Path.Combine(killed, RunResults.SummaryFile)));
        using var resumed = new RunDatabase(Path.Combine(killed, RunDatabase.FileName));
        Assert.Equal(1, resumed.Info!.Resumes);
    }

    [Fact]
    public async Task TheReportRendersItsPlotsAndTablesInHeadlessChromiumWithoutConsoleErrors()
    {
        var output = Run(group.WriteScenario("report", Steps), "report");
        var plots = Directory.GetFiles(Path.Combine(output, RunResults.PlotsDirectory), "*.png");
        Assert.True(plots.Length >= 4, $"expected quiz, debate, diffusion, Asch and convergence plots, got {plots.Length}");

        var report = await HeadlessReport.Open(output);
        Assert.Equal(plots.Length, report.ImageWidths.Length);
        Assert.All(report.ImageWidths, width => Assert.Equal(640, width));
        Assert.True(report.TableRows.Length >= 6, $"expected a table per step and more, got {report.TableRows.Length}");
        Assert.All(report.TableRows, r => Assert.True(r > 0));
        Assert.Contains("Wrong-majority adoption", report.Text);
        Assert.Empty(report.Errors);
    }
}
