using System.CommandLine;
using Akka.Actor;
using Evolution.Agents.Cluster;
using Evolution.Core;
using Evolution.Core.Worlds;
using Evolution.Scenarios;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary>
/// <c>evolution node</c>: a worker of a run on a cluster. It joins the seed nodes and hosts the scenario's agents as sharded entities
/// (building each from the checkpoint cache, the coordinator's when this node's lacks it, and from its history in the run database,
/// read through the coordinator's recorder), until it leaves the cluster.
/// </summary>
public static class NodeCommand
{
    public static Command Create()
    {
        var scenario = new Argument<string>("scenario") { Description = "the scenario the run is running (its agents are the ones this node hosts)" };
        var output = new Option<string>("--out") { Description = "a folder for this node's copies of the agents' memories (filled from the run database; need not be the coordinator's run folder)", Required = true };
        var seeds = new Option<string>("--seeds") { Description = "seed nodes, akka.tcp://evolution@HOST:PORT[,..] (a first worker started by hand may name itself)", Required = true };
        var host = new Option<string>("--host") { Description = "address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port to listen on (0: any free port)", DefaultValueFactory = _ => 0 };
        var (cache, device, _) = RunCommand.Common();
        var command = new Command("node", "Join a cluster as a worker and host a scenario's agents (started by run --local-nodes, or by hand for run --cluster); it ends when the run's coordinator leaves.") { scenario, output, seeds, host, port, cache, device };
        command.SetAction(parse =>
        {
            var parsed = Scenario.Load(parse.GetRequiredValue(scenario));
            var seedList = ClusterNode.ParseSeeds(parse.GetRequiredValue(seeds), "--seeds");
            var options = RunCommand.Options(parse.GetRequiredValue(output), parse.GetValue(cache), parse.GetValue(device)!);
            // Join first: a wrong seed, a port in use or a node of other code ends here within seconds, before any agent is built.
            using var system = ClusterNode.Start(parse.GetValue(host)!, parse.GetValue(port), seedList, [ClusterNode.WorkerRole]);
            if (ClusterNode.WaitUntilUp(system, seedList) is { } problem) throw new RunFailedException(problem);
            // A checkpoint this node's cache lacks comes from the coordinator (waiting for one to join: the first worker of a cluster
            // started by hand is up before any coordinator is).
            options = options with { FetchCheckpoint = directory => CheckpointShipping.Fetch(system, directory, TimeSpan.FromMinutes(10), options.Progress) };
            var cluster = Akka.Cluster.Cluster.Get(system);
            var homes = ScenarioRunner.Homes(parsed, World.Generate(parsed.WorldSpec), options, node: $"{cluster.SelfAddress.Host}-{cluster.SelfAddress.Port}").ToDictionary(h => h.Name);
            cluster.RegisterOnMemberRemoved(() => system.Terminate());
            ClusterNode.EndWithCoordinator(system);
            // Each agent built here first reads its history from the run database, through the coordinator's recorder singleton.
            ClusterNode.HostAgents(system, name =>
            {
                Output.Status.MarkupLine($"agent {Markup.Escape(name)}: hosted here"); // built from its checkpoint and its history in run.db
                return homes[name];
            }, ClusterNode.WorkerRole, ClusterNode.ReachSingleton(system, ClusterNode.RecorderName)).GetAwaiter().GetResult();
            var bases = parsed.Population is null ? (Func<int, Agents.Population.SharedBase>)(b => throw new InvalidOperationException($"{parsed.Path} has no population (asked for base {b})"))
                : Scenarios.Population.PopulationRun.NodeBases(parsed, options);
            ClusterNode.HostBases(system, bases, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            Output.Status.MarkupLine($"node {cluster.SelfAddress}: hosting {(parsed.Population is null ? "agents" : "bases")} of {parsed.Name}");
            system.WhenTerminated.Wait();
            return 0;
        });
        return command;
    }
}
