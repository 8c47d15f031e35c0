using Evolution.Agents.Protocols;
using System.Diagnostics;
using Evolution.Core;

namespace Evolution.Scenarios.Tests;

/// <summary>A malformed scenario is refused before any work, naming file, line and field.</summary>
public class ScenarioFileTests : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-scenario-files").FullName;

    string Write(string steps, string agentExtra = "")
    {
        File.WriteAllText(Path.Combine(directory, "p.yaml"), "name: p\nmodel: {layers: 1, d_model: 16, heads: 1, context: 32}\n");
        var path = Path.Combine(directory, "s.yaml");
        File.WriteAllText(path, $"name: s\nworld: {TinyGroup.TinyWorld}\nagents:\n  - name: ada\n    profile: p.yaml\n{agentExtra}steps:\n{steps}");
        return path;
    }

    [Fact]
    public void AnUnknownAgentIsNamedWithFileLineAndField()
    {
        var path = Write("  - quiz: {facts: 5}\n  - news:\n      epoch: 1\n      learners: [ada, zed]\n");
        var e = Assert.Throws<InputException>(() => Scenario.Load(path));
        Assert.Equal(path, e.File);
        Assert.Equal("steps[1].news.learners", e.Field);
        Assert.Equal(10, e.Line);
        Assert.Contains("zed", e.Message);
    }

    [Fact]
    public void TheProfileStoredWithAnAgentIsTheOneItRunsWithOverridesIncluded()
    {
        var agent = Scenario.Load(Write("  - quiz: {facts: 5}\n", "    seed: 7\n    keep_own_above: 0.6\n    update: rome\n")).Agents[0];
        var stored = Core.Agents.AgentProfile.Parse(agent.ProfileText, "profile.yaml");
        Assert.Equal(7, stored.Training.Seed);
        Assert.Equal(0.6, stored.Traits.KeepOwnAbove);
        Assert.Equal(Core.Agents.UpdateChannel.Rome, stored.Update.Channel);
        Assert.Equal(agent.Profile.Model, stored.Model);
        Assert.Equal(Core.Agents.AgentTraining.CacheKey(Core.Worlds.WorldSpec.Load(TinyGroup.TinyWorld), agent.Profile),
            Core.Agents.AgentTraining.CacheKey(Core.Worlds.WorldSpec.Load(TinyGroup.TinyWorld), stored));
    }

    [Fact]
    public void AWrongTypeAndAnUnknownFieldAreRefused()
    {
        var wrongType = Assert.Throws<InputException>(() => Scenario.Load(Write("  - debate: {facts: 5, rounds: three}\n")));
        Assert.Equal("steps[0].debate.rounds", wrongType.Field);
        var unknown = Assert.Throws<InputException>(() => Scenario.Load(Write("  - debate: {facts: 5, roundz: 2}\n")));
        Assert.Equal("steps[0].debate.roundz", unknown.Field);
        Assert.Contains("unknown field", unknown.Message);
        var protocol = Assert.Throws<InputException>(() => Scenario.Load(Write("  - gossip: {facts: 5}\n")));
        Assert.Equal("steps[0]", protocol.Field);
        var policy = Assert.Throws<InputException>(() => Scenario.Load(Write("  - quiz: {facts: 5}\n", "    update: telepathy\n")));
        Assert.Equal("agents[0].update", policy.Field);
        var news = Assert.Throws<InputException>(() => Scenario.Load(Write("  - debate: {facts: news}\n")));
        Assert.Contains("news step before", news.Message);
    }

    [Fact]
    public void SocialNetworkKnobsAreReadAndChecked()
    {
        var step = (DebateStep)Scenario.Load(Write("  - debate: {facts: 5, topology: small-world, degree: 6, rewire: 0.3}\n")).Steps[0];
        Assert.Equal((Topology.SmallWorld, 6, 0.3), (step.Topology, step.Degree, step.Rewire));
        var odd = Assert.Throws<InputException>(() => Scenario.Load(Write("  - debate: {facts: 5, topology: small-world, degree: 3}\n")));
        Assert.Equal("steps[0].debate.degree", odd.Field);
        var unknown = Assert.Throws<InputException>(() => Scenario.Load(Write("  - debate: {facts: 5, topology: hypercube}\n")));
        Assert.Contains("scale-free", unknown.Message);
    }

    [Fact]
    public void AnEdgeListIsReadAgainstTheAgentsAndABadLineIsNamed()
    {
        File.WriteAllText(Path.Combine(directory, "net.csv"), "source,target\n# ada talks to herself only in bad files\nada,ada\n");
        var self = Assert.Throws<InputException>(() => Scenario.Load(Write("  - debate: {facts: 5, topology: edge-list, edges: net.csv}\n")));
        Assert.Equal((Path.Combine(directory, "net.csv"), 3), (self.File, self.Line));
        File.WriteAllText(Path.Combine(directory, "net.csv"), "ada,bob\n");
        var stranger = Assert.Throws<InputException>(() => Scenario.Load(Write("  - debate: {facts: 5, topology: edge-list, edges: net.csv}\n")));
        Assert.Contains("unknown agent 'bob'", stranger.Message);
        var missing = Assert.Throws<InputException>(() => Scenario.Load(Write("  - debate: {facts: 5, topology: edge-list}\n")));
        Assert.Equal("steps[0].debate.edges", missing.Field);

        // With two agents the file is read into the step, and the debate's graph is the file's.
        File.WriteAllText(Path.Combine(directory, "net.csv"), "ada,bea\n");
        var step = (DebateStep)Scenario.Load(Write("  - debate: {facts: 5, topology: edge-list, edges: net.csv}\n",
            "  - name: bea\n    profile: p.yaml\n  - name: cy\n    profile: p.yaml\n")).Steps[0];
        var graph = Debate.Neighbours(["ada", "bea", "cy"], step, seed: 1);
        Assert.Equal(["bea"], graph["ada"]);
        Assert.Equal(["ada"], graph["bea"]);
        Assert.Empty(graph["cy"]);
    }

    [Fact]
    public void AnEpochsBlockRunsItsStepsOncePerEpochAsPlainSteps()
    {
        var block = Scenario.Load(Write("""
              - quiz: {facts: 5}
              - epochs:
                  steps:
                    - news: {}
                    - quiz: {facts: all}
                    - debate: {facts: news, rounds: 1}
                    - consolidate: {}
            """)).Steps;
        var flat = Scenario.Load(Write(string.Concat(["  - quiz: {facts: 5}\n", .. Enumerable.Range(1, 3).Select(epoch =>
            $"  - news: {{epoch: {epoch}}}\n  - quiz: {{facts: all}}\n  - debate: {{facts: news, rounds: 1}}\n  - consolidate: {{}}\n")]))).Steps;
        // the tiny world's news epochs are 1..3; the block takes them all by default, numbered as the flat steps
        static string Json(IEnumerable<ProtocolStep> steps) => string.Join("\n", steps.Select(s => System.Text.Json.JsonSerializer.Serialize(s, s.GetType())));
        Assert.Equal(13, block.Count);
        Assert.Equal(Json(flat), Json(block));
        Assert.Equal([1, 2, 3], block.OfType<NewsStep>().Select(n => n.Epoch));
        var some = Scenario.Load(Write("  - epochs: {from: 2, to: 3, steps: [{news: {learners: [ada]}}, {quiz: {facts: news}}]}\n")).Steps;
        Assert.Equal([(0, 2), (2, 3)], some.OfType<NewsStep>().Select(n => (n.Index, n.Epoch)));
    }

    [Theory]
    [InlineData("  - epochs: {to: 4, steps: [{news: {}}]}\n", "steps[1].epochs.to", "between from (1) and the world's last epoch (3)")]
    [InlineData("  - epochs: {from: 0, steps: [{news: {}}]}\n", "steps[1].epochs.from", "news epochs 1..3")]
    [InlineData("  - epochs: {steps: [{quiz: {facts: 5}}]}\n", "steps[1].epochs.steps", "needs a news step")]
    [InlineData("  - epochs: {steps: [{news: {epoch: 2}}]}\n", "steps[1].epochs.steps[0].news.epoch", "set by the epochs block")]
    [InlineData("  - epochs: {steps: [{news: {}}, {epochs: {steps: [{news: {}}]}}]}\n", "steps[1].epochs.steps[1]", "each step is one of")]
    [InlineData("  - epochs: {form: 2, steps: [{news: {}}]}\n", "steps[1].epochs.form", "unknown field")]
    [InlineData("  - epochs: {steps: [{news: {}}, {debate: {facts: news, roundz: 2}}]}\n", "steps[1].epochs.steps[1].debate.roundz", "unknown field")]
    [InlineData("  - epochs: {steps: []}\n", "steps[1].epochs.steps", "needs steps")]
    public void AMalformedEpochsBlockIsNamedWithFileLineAndField(string steps, string field, string problem)
    {
        var path = Write("  - quiz: {facts: 5}\n" + steps);
        var e = Assert.Throws<InputException>(() => Scenario.Load(path));
        Assert.Equal((path, field, 8), (e.File, e.Field, e.Line));
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void AnAllyNeedsAtLeastThreeConfederates()
    {
        var path = Write("  - quiz: {facts: 5}\n  - conformity: {facts: 5, wrong_peers: [0, 1, 2], ally: true}\n");
        var e = Assert.Throws<InputException>(() => Scenario.Load(path));
        Assert.Equal((path, "steps[1].conformity.ally", 8), (e.File, e.Field, e.Line));
        Assert.Contains("at least 3", e.Message);
        Assert.True(Scenario.Load(Write("  - conformity: {facts: 5, wrong_peers: [0, 3], ally: true}\n")).Steps.OfType<ConformityStep>().Single().Ally);
    }

    [Theory]
    [InlineData("-1")]
    [InlineData("100000")]
    public void ACircuitFactsCountOutsideTheWorldIsNamedWithFileLineAndField(string count)
    {
        var path = Write($"  - quiz: {{facts: 5}}\n  - conformity: {{facts: 5, wrong_peers: [0, 3], circuit_facts: {count}}}\n");
        var e = Assert.Throws<InputException>(() => Scenario.Load(path));
        Assert.Equal((path, "steps[1].conformity.circuit_facts", 8), (e.File, e.Field, e.Line));
        Assert.Contains("between 0 and the world's", e.Message);
        Assert.Equal(12, Scenario.Load(Write("  - conformity: {facts: 5, wrong_peers: [0, 3], circuit_facts: 12}\n")).Steps.OfType<ConformityStep>().Single().CircuitFacts);
    }

    const string Quiet = "interventions:\n  - name: quiet\n    ablation: zero\n";

    [Theory]
    [InlineData("    heads: [L0H0, L1H0]\n", "interventions[0].heads", 9, "agent ada has no head L1H0")]
    [InlineData("    heads: [L0H3]\n", "interventions[0].heads", 9, "no head L0H3")]
    [InlineData("    heads: [layer0]\n", "interventions[0].heads", 9, "not a head")]
    [InlineData("    top: 2\n", "interventions[0].top", 9, "fewer than 2")]
    [InlineData("    factor: 0.5\n", "interventions[0].factor", 9, "applies to ablation: scale")]
    [InlineData("    agents: [zed]\n", "interventions[0].agents", 9, "unknown agent 'zed'")]
    public void AnInterventionTheAgentsCannotTakeIsRefusedBeforeAnyWork(string extra, string field, int line, string problem)
    {
        // The profile's model has one layer of one head.
        var path = Write("  - quiz: {facts: 5, interventions: [quiet]}\n", Quiet + extra);
        var e = Assert.Throws<InputException>(() => Scenario.Load(path));
        Assert.Equal((path, field, line), (e.File, e.Field, e.Line));
        Assert.Contains(problem, e.Message);
    }

    [Fact]
    public void StepsNameTheirInterventionsAndOnlyQuizDebateAndConformityTakeThem()
    {
        var step = Scenario.Load(Write("  - conformity: {facts: 5, wrong_peers: [0, 3], interventions: [quiet]}\n", Quiet + "    heads: [L0H0]\n")).Steps.Single();
        var spec = Assert.Single(step.Interventions);
        Assert.Equal(("quiet", Mechanisms.HeadAblation.Zero, false), (spec.Name, spec.Kind, spec.Auto));
        Assert.Equal([new Mechanisms.HeadRef(0, 0)], spec.Heads);
        Assert.True(Scenario.Load(Write("  - quiz: {facts: 5}\n", Quiet)).Steps.Single().Interventions.Count == 0);
        const string Unhearing = "interventions:\n  - name: deaf\n    target: peer-attention\n    factor: 0\n";
        var everyHead = Scenario.Load(Write("  - quiz: {facts: 5, interventions: [deaf]}\n", Unhearing)).Steps.Single().Interventions.Single();
        Assert.Equal((true, false, 0), (everyHead.PeerAttention, everyHead.Auto, everyHead.Heads!.Count));
        var auto = Scenario.Load(Write("  - quiz: {facts: 5, interventions: [deaf]}\n", Unhearing + "    heads: auto\n")).Steps.Single().Interventions.Single();
        Assert.Equal((true, true), (auto.PeerAttention, auto.Auto));

        var unknown = Assert.Throws<InputException>(() => Scenario.Load(Write("  - quiz: {facts: 5, interventions: [loud]}\n", Quiet)));
        Assert.Equal("steps[0].quiz.interventions", unknown.Field);
        Assert.Contains("unknown intervention 'loud'", unknown.Message);
        var news = Assert.Throws<InputException>(() => Scenario.Load(Write("  - news: {epoch: 1, interventions: [quiet]}\n", Quiet)));
        Assert.Equal("steps[0].news.interventions", news.Field);
    }

    [Fact]
    public void TheCliRejectsAMalformedScenarioWithExitCode2AndNoStackTraceBeforeAnyWork()
    {
        var path = Write("  - quiz: {facts: 5}\n  - news: {epoch: 7}\n");
        var output = Path.Combine(directory, "run");
        var cli = Path.Combine(AppContext.BaseDirectory, "evolution.dll");
        var process = Process.Start(new ProcessStartInfo("dotnet", [cli, "run", path, "--out", output]) { RedirectStandardError = true, RedirectStandardOutput = true })!;
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.Equal(2, process.ExitCode);
        Assert.StartsWith("error: ", stderr);
        Assert.Contains($"{path}:", stderr);
        Assert.Contains("steps[1].news.epoch", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(output), "nothing may be written for a rejected scenario");
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
