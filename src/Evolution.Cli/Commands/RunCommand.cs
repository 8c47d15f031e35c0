using System.CommandLine;
using System.Diagnostics;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Training;
using Evolution.Scenarios;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution run</c>, <c>resume</c> and <c>report</c>: scenarios end to end.</summary>
public static class RunCommand
{
    public static Command Create()
    {
        var scenario = new Argument<string>("scenario") { Description = "scenario file (scenarios/*.yaml)" };
        var output = new Option<string?>("--out") { Description = "run folder (default: results/<scenario name>)" };
        var force = new Option<bool>("--force") { Description = "start over in a folder that holds an earlier run: deletes only the files a run writes, and refuses a folder that holds anything else" };
        var localNodes = new Option<int>("--local-nodes") { Description = "host the agents (a population's bases) on this many worker processes of this machine (an Akka.NET cluster on 127.0.0.1); this process runs the moderator and records" };
        var clusterSeeds = new Option<string?>("--cluster") { Description = "host the agents (a population's bases) on the worker nodes already running at these seed addresses, akka.tcp://evolution@HOST:PORT[,..] (started with `evolution node <scenario> --out DIR --port P --seeds ...`); they end with the run" };
        var host = new Option<string>("--host") { Description = "with --cluster or --local-nodes: the address this process listens on (workers must reach it)", DefaultValueFactory = _ => "127.0.0.1" };
        var (cache, device, json) = Common();
        var command = new Command("run", "Run a scenario: train or load its agents, run its protocols as Akka.NET actors, write results/<run>/.") { scenario, output, force, localNodes, clusterSeeds, host, cache, device, json };
        command.SetAction(parse =>
        {
            var path = parse.GetRequiredValue(scenario);
            var parsed = Scenario.Load(path); // every input mistake surfaces here, before any work
            int nodes = parse.GetValue(localNodes);
            if (nodes is < 0 or > 16) throw new InputException(null, "--local-nodes", $"must be between 0 and 16, got {nodes}");
            var directory = parse.GetValue(output) ?? Path.Combine("results", parsed.Name);
            var seeds = parse.GetValue(clusterSeeds) is { } text ? Agents.Cluster.ClusterNode.ParseSeeds(text, "--cluster") : [];
            if (seeds.Count > 0 && nodes > 0) throw new InputException(null, "--cluster", "runs on worker nodes already running; --local-nodes starts its own: give one of them");
            var options = Options(directory, parse.GetValue(cache), parse.GetValue(device)!) with
                { LocalNodes = nodes, WorkerCommand = SelfCommand.Program(), ClusterSeeds = seeds, Host = parse.GetValue(host)! };
            return Finish(ScenarioRunner.Run(parsed, options, parse.GetValue(force)), parse.GetValue(json));
        });
        return command;
    }

    public static Command CreateResume()
    {
        var directory = new Argument<string>("run") { Description = "run folder of a run that was stopped" };
        var (cache, device, json) = Common();
        var command = new Command("resume", "Continue a stopped run from its folder; it ends as an uninterrupted run would.") { directory, cache, device, json };
        command.SetAction(parse =>
        {
            var dir = parse.GetRequiredValue(directory);
            return Finish(ScenarioRunner.Resume(dir, Options(dir, parse.GetValue(cache), parse.GetValue(device)!)), parse.GetValue(json));
        });
        return command;
    }

    public static Command CreateReport()
    {
        var directory = new Argument<string>("run") { Description = "run folder" };
        var json = new Option<bool>("--json") { Description = "print the summary as JSON on stdout" };
        var command = new Command("report", "Rebuild summary.json, metrics.csv, plots and report.html from a run's run.db.") { directory, json };
        command.SetAction(parse => Finish(RunResults.Write(parse.GetRequiredValue(directory)), parse.GetValue(json)));
        return command;
    }

    internal static (Option<string?> Cache, Option<string> Device, Option<bool> Json) Common() => (
        new Option<string?>("--cache") { Description = "checkpoint cache (default: $EVOLUTION_CACHE or ./.cache/evolution)" },
        new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" },
        new Option<bool>("--json") { Description = "print the summary as JSON on stdout" });

    internal static RunOptions Options(string directory, string? cache, string device)
    {
        var clock = Stopwatch.StartNew();
        var progress = new LineProgress<string>(message => Output.Status.MarkupLine($"[grey]{clock.Elapsed:mm\\:ss}[/] {Markup.Escape(message)}"));
        var training = new LineProgress<TrainingProgress>(p =>
        {
            if (p.Step % 200 == 0 || p.Step == p.MaxSteps)
                Output.Status.MarkupLine($"[grey]{clock.Elapsed:mm\\:ss}   step {p.Step}/{p.MaxSteps} loss {p.Loss:F3}{(p.LiveHit1 is { } h ? $" Hit@1 {h:F2}" : "")}[/]");
        });
        return new RunOptions(directory, cache ?? AgentTraining.DefaultCacheRoot(), Devices.Parse(device), progress, training);
    }

    static int Finish(RunResult result, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(result.Summary, RunResults.Json));
            return 0;
        }
        var table = new Table().AddColumns("step", "protocol", "result");
        foreach (var step in result.Summary.Steps)
            table.AddRow(step.Step.ToString(), step.Protocol, Markup.Escape(Headline(step, result.Summary.Population?.Spreads.FirstOrDefault(s => s.Step == step.Step))));
        Output.Status.Write(table);
        Output.Status.MarkupLine($"report: [bold]{Markup.Escape(Path.GetFullPath(Path.Combine(result.Directory, RunResults.ReportFile)))}[/]");
        return 0;
    }

    /// <param name="spread">A population's spread step: its metrics live in the summary's population section.</param>
    public static string Headline(StepMetrics step, Scenarios.Population.SpreadStepMetrics? spread = null)
    {
        static string F(double? x) => x is null || double.IsNaN(x.Value) ? "–" : x.Value.ToString("0.00");
        if (spread is { Spread: var s })
            return $"{s.Agents:N0} agents, {s.Facts} facts, {s.Adoption.True.Count - 1} steps: true {F(s.Adoption.True[0])} → {F(s.Adoption.True[^1])}, rumour {F(s.Adoption.Rumour[0])} → {F(s.Adoption.Rumour[^1])}, "
                + $"old {F(s.Adoption.Old[0])} → {F(s.Adoption.Old[^1])}; 50% by step {s.StepTo50?.ToString() ?? "–"}, 90% by {s.StepTo90?.ToString() ?? "–"}";
        if (step.AccuracyByAgent is not null) return $"accuracy {F(step.MeanAccuracy)}, majority vote {F(step.MajorityAccuracy)}";
        if (step.Debates is { Count: > 0 } debates)
            return string.Join("; ", debates.Select(d => $"{(d.Condition == "" ? "" : d.Condition + ": ")}accuracy {F(d.Rounds[0].Accuracy)} → {F(d.Rounds[^1].Accuracy)}, majority {F(d.Rounds[^1].MajorityAccuracy)}, consensus {F(d.ConsensusShare)}"
                + (d.Rounds[^1].NewAnswerShare is { } s ? $", news held {F(s)}" : "")));
        if (step.ConformityByTraits is { } groups)
            return string.Join("; ", groups.Select(g => $"{g.Group}: adoption " + string.Join(" ", g.WrongMajorityAdoption.Select(kv => $"k{kv.Key}={F(kv.Value)}"))));
        if (step.Convergence is { Count: > 0 } layers) return "CKA by layer " + string.Join(" ", layers.Select(l => F(l.LinearCka)));
        if (step.Updates is { } updates) return string.Join(", ", updates.Select(u => $"{u.Agent}: {u.Channel} {u.Facts} facts"));
        return "";
    }

    /// <summary>Reports on the calling thread, one line at a time.</summary>
    sealed class LineProgress<T>(Action<T> report) : IProgress<T>
    {
        readonly Lock gate = new();
        public void Report(T value)
        {
            lock (gate) report(value);
        }
    }
}
