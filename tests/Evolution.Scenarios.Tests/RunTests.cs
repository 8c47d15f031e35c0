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
        // Conformers against resisters: the same traced answers split by whether the agent took the peers' answer.
        var split = System.Text.Json.JsonDocument.Parse(summary).RootElement.GetProperty("steps")[4].GetProperty("conformed_vs_resisted").EnumerateArray().ToList();
        var traced = db.Answers.FindAll().Where(a => a.Step == 4 && a.PeerTrace is not null).ToList();
        Assert.Equal(traced.Count, split.Sum(x => x.GetProperty("answers").GetInt32()));
        var conformed = traced.Where(a => a.Answer.TrimStart() == a.PeerTrace!.PeersAnswer).ToList();
        if (conformed.Count > 0)
        {
            var row = split.Single(x => x.GetProperty("outcome").GetString() == "conformed");
            Assert.Equal(conformed.Count, row.GetProperty("answers").GetInt32());
            Assert.Equal(conformed.Average(a => a.PeerTrace!.MemorizationRatio), row.GetProperty("mean_memorization_ratio").GetDouble(), 3);
            Assert.Equal(2, row.GetProperty("attention_to_peers_by_layer").GetArrayLength());
        }
    }

    [Fact]
    public void AConformityStepUnderAnAutoInterventionFindsHeadsOnOtherFactsAndRecordsTheCausalCheck()
    {
        const string interventions = "interventions:\n  - name: silence\n    heads: auto\n    random_draws: 2\n    auto_facts: 12\n";
        var scenario = group.WriteScenario("intervention", "  - conformity: {facts: 8, wrong_peers: [0, 2], interventions: [silence]}", interventions);
        var output = Run(scenario, "intervention");
        using var db = new RunDatabase(Path.Combine(output, RunDatabase.FileName));
        var answers = db.Answers.FindAll().ToList();

        // Each agent's conformity heads: all four of the 2×2 model ranked, found on facts the step does not ask.
        var found = db.Traces.FindAll().Where(t => t.Kind == "conformity-heads").OrderBy(t => t.AgentA).ToList();
        Assert.Equal(["ada", "bo", "cy"], found.Select(t => t.AgentA));
        Assert.All(found, t => Assert.Equal(["L0H0", "L0H1", "L1H0", "L1H1"], t.Heads.Order()));
        Assert.All(found, t => Assert.Equal(t.HeadScores.OrderByDescending(x => x), t.HeadScores));
        Assert.All(found, t => Assert.True(t.Layer > 0, "contrasts used"));
        var asked = answers.Where(a => a.Condition == "alone").Select(a => (a.Subject, a.Relation)).ToHashSet();
        var auto = answers.Where(a => a.Condition == "auto@silence").ToList();
        Assert.NotEmpty(auto);
        Assert.DoesNotContain(auto, a => asked.Contains((a.Subject, a.Relation)));

        // The step is asked again under the top quarter of the heads (one of four) and under two draws of one other head.
        foreach (var condition in new[] { "alone@silence", "wrong=2@silence", "alone@silence~1", "wrong=2@silence~1", "alone@silence~2", "wrong=2@silence~2" })
            Assert.Equal(3 * 8, answers.Count(a => a.Condition == condition));
        foreach (var agent in found)
        {
            Assert.All(answers.Where(a => a.Agent == agent.AgentA && a.Condition is "alone@silence" or "wrong=2@silence"), a => Assert.Equal("mean " + agent.Heads[0], a.Intervention));
            Assert.All(answers.Where(a => a.Agent == agent.AgentA && a.Condition.Contains("@silence~")),
                a => Assert.Matches("^mean L[01]H[01]$", a.Intervention));
            Assert.DoesNotContain(answers, a => a.Agent == agent.AgentA && a.Condition.Contains("@silence~") && a.Intervention == "mean " + agent.Heads[0]);
        }
        Assert.All(answers.Where(a => !a.Condition.Contains('@') || a.Condition.StartsWith("auto@")), a => Assert.Null(a.Intervention));
        Assert.All(answers.Where(a => a.Intervention is not null), a => Assert.Null(a.PeerTrace));

        // The summary's causal check is the adoption these answers show.
        var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, RunResults.SummaryFile))).RootElement;
        var check = Assert.Single(summary.GetProperty("interventions").EnumerateArray());
        Assert.Equal(("silence", "all"), (check.GetProperty("name").GetString(), check.GetProperty("agent").GetString()));
        Assert.Equal(found.Select(t => t.Heads[0]).Distinct().Order(), check.GetProperty("heads").EnumerateArray().Select(h => h.GetString()).Order());
        double Adoption(string suffix)
        {
            var alone = answers.Where(a => a.Condition == "alone" + suffix).ToDictionary(a => (a.Agent, a.Subject, a.Relation));
            var pressed = answers.Where(a => a.Condition == "wrong=2" + suffix && alone[(a.Agent, a.Subject, a.Relation)].Correct).ToList();
            return pressed.Count(a => a.Answer == a.PeerConsensus) / (double)pressed.Count;
        }
        Assert.Equal(Adoption(""), check.GetProperty("adoption").GetDouble(), 3);
        Assert.Equal(Adoption("@silence"), check.GetProperty("adoption_ablated").GetDouble(), 3);
        Assert.Equal((Adoption("@silence~1") + Adoption("@silence~2")) / 2, check.GetProperty("adoption_random_ablated").GetDouble(), 3);
        Assert.Equal(answers.Where(a => a.Condition == "alone@silence").Average(a => a.Correct ? 1.0 : 0.0), check.GetProperty("accuracy_alone_ablated").GetDouble(), 3);
        Assert.Equal(3, check.GetProperty("agents").GetArrayLength());
        // Asch's curve is the agents' own: only k = 0 and 2 of the agents as they are.
        Assert.All(summary.GetProperty("steps")[0].GetProperty("conformity_by_agent").EnumerateArray(),
            agent => Assert.Equal(["0", "2"], agent.GetProperty("wrong_majority_adoption").EnumerateObject().Select(p => p.Name)));
    }

    [Fact]
    public void ConformityStepsFindEachAgentsConformityCircuitAndTheSummaryFollowsItAcrossTheNews()
    {
        var scenario = group.WriteScenario("over-time", """
              - conformity: {facts: 10, wrong_peers: [0, 2], ally: false, circuit_facts: 12}
              - news: {epoch: 1, learners: [ada]}
              - conformity: {facts: 10, wrong_peers: [0, 3], ally: true, circuit_facts: 12}
            """);
        var output = Run(scenario, "over-time");
        using var db = new RunDatabase(Path.Combine(output, RunDatabase.FileName));
        var answers = db.Answers.FindAll().ToList();

        // Each agent's circuit at both conformity steps: all four heads of the 2×2 model ranked, on the same draw of facts.
        var circuits = db.Traces.FindAll().Where(t => t.Kind == "conformity-circuit").ToList();
        Assert.Equal([(0, "ada"), (0, "bo"), (0, "cy"), (2, "ada"), (2, "bo"), (2, "cy")], circuits.Select(t => (t.Step, t.AgentA)).Order());
        Assert.All(circuits, t => Assert.Equal(["L0H0", "L0H1", "L1H0", "L1H1"], t.Heads.Order()));
        Assert.All(circuits, t => Assert.Equal(t.HeadScores.OrderByDescending(x => x), t.HeadScores));
        HashSet<(int, string)> Asked(int step, string agent) => [.. answers.Where(a => a.Step == step && a.Agent == agent && a.Condition == "auto@circuit").Select(a => (a.Subject, a.Relation))];
        foreach (var agent in new[] { "ada", "bo", "cy" })
        {
            Assert.Equal(12, Asked(0, agent).Count);
            Assert.True(Asked(0, agent).SetEquals(Asked(2, agent)), $"{agent} was measured on other facts after the news");
        }

        // The summary: each step's circuits, and per agent the change from step 0 to step 2 with the news in between.
        var summary = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(output, RunResults.SummaryFile))).RootElement;
        Assert.All(summary.GetProperty("steps")[0].GetProperty("conformity_by_agent").EnumerateArray(), a => Assert.Equal(10, a.GetProperty("facts").GetInt32()));
        var changes = summary.GetProperty("conformity_over_time").EnumerateArray().ToList();
        Assert.Equal(["ada", "bo", "cy"], changes.Select(c => c.GetProperty("agent").GetString()));
        foreach (var change in changes)
        {
            string agent = change.GetProperty("agent").GetString()!;
            Assert.Equal((0, 2), (change.GetProperty("from_step").GetInt32(), change.GetProperty("to_step").GetInt32()));
            Assert.Equal(["news"], change.GetProperty("between").EnumerateArray().Select(p => p.GetString()));
            Assert.Equal(circuits.Single(t => t.Step == 0 && t.AgentA == agent).Heads[0], Assert.Single(change.GetProperty("top_heads_from").EnumerateArray()).GetString());
            Assert.Equal(circuits.Single(t => t.Step == 2 && t.AgentA == agent).Heads[0], Assert.Single(change.GetProperty("top_heads_to").EnumerateArray()).GetString());
            Assert.InRange(change.GetProperty("head_rank_correlation").GetDouble(), -1, 1);
            double Adoption(int step)
            {
                var alone = answers.Where(a => a.Step == step && a.Agent == agent && a.Condition == "alone").ToDictionary(a => (a.Subject, a.Relation));
                var pressed = answers.Where(a => a.Step == step && a.Agent == agent && a.Condition.StartsWith("wrong=") && alone[(a.Subject, a.Relation)].Correct).ToList();
                return pressed.Count(a => a.Answer == a.PeerConsensus) / (double)pressed.Count;
            }
            Assert.Equal(Adoption(0), change.GetProperty("adoption_from").GetDouble(), 3);
            Assert.Equal(Adoption(2), change.GetProperty("adoption_to").GetDouble(), 3);
            Assert.Equal(2, change.GetProperty("attention_to_peers_to").GetArrayLength());
        }

        // Counts match: every answer read with confederates who said otherwise carries its mechanism record, and no other does;
        // the record is left out only where the two answers start with the same token (no first-token logit difference).
        using var reader = group.Runtime("reader", 1);
        int First(string answer) => reader.Tokenizer.Encode(" " + answer.TrimStart())[0];
        string PeersAnswer(AnswerEvent a) => a.Condition.StartsWith("ally") && a.OwnAnswer.TrimStart() == a.PeerMajority?.TrimStart() ? a.Truth : (a.Condition.StartsWith("ally") ? a.PeerMajority : a.PeerConsensus)!;
        var withPeers = answers.Where(a => a.Peers > 0).ToList();
        Assert.Equal(3 * 10 * (1 + 1 + 1), withPeers.Count); // wrong=2, then wrong=3 and ally=3
        var expected = withPeers.Where(a => a.ReadPeers && a.Intervention is null && PeersAnswer(a).TrimStart() != a.OwnAnswer.TrimStart() && First(PeersAnswer(a)) != First(a.OwnAnswer))
            .Select(a => a.Id).Order().ToList();
        Assert.NotEmpty(expected);
        Assert.Equal(expected, answers.Where(a => a.PeerTrace is not null).Select(a => a.Id).Order());
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
        // The run's steps with a conformity circuit before the last step and at it, so the report has the mechanism over time.
        var steps = Steps.Replace("ally: true}", "ally: true, circuit_facts: 8}") + "\n  - conformity: {facts: 6, wrong_peers: [0, 2], circuit_facts: 8}";
        var output = Run(group.WriteScenario("report", steps), "report");
        var plots = Directory.GetFiles(Path.Combine(output, RunResults.PlotsDirectory), "*.png");
        Assert.True(plots.Length >= 4, $"expected quiz, debate, diffusion, Asch and convergence plots, got {plots.Length}");

        var report = await HeadlessReport.Open(output);
        Assert.Equal(plots.Length, report.ImageWidths.Length);
        Assert.All(report.ImageWidths, width => Assert.Equal(640, width));
        Assert.True(report.TableRows.Length >= 6, $"expected a table per step and more, got {report.TableRows.Length}");
        Assert.All(report.TableRows, r => Assert.True(r > 0));
        Assert.Contains("Wrong-majority adoption", report.Text);
        Assert.Contains("Conformity circuit per agent at this step", report.Text);
        Assert.Contains("The conformity mechanism over time", report.Text);
        Assert.Empty(report.Errors);
    }
}
