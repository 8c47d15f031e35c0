using System.Diagnostics;
using Akka.Actor;
using Evolution.Agents.Cluster;

namespace Evolution.Scenarios;

/// <summary>
/// A run whose agents live on worker nodes, with this process as the coordinator (the moderator, the recorder and the tracer, or
/// a population's agents, and proxies of the agents' and bases' shard regions). With <c>run --local-nodes N</c> it starts N
/// processes with <see cref="RunOptions.WorkerCommand"/> (<c>evolution node</c>) on this machine, which join it, and kills them
/// when the run ends; with <c>run --cluster SEEDS</c> it joins worker nodes already running (started by hand, on this machine or
/// others). Workers end when the coordinator leaves the cluster (<see cref="ClusterNode.EndWithCoordinator"/>), so a run's end ends them.
/// </summary>
public sealed class LocalCluster : IDisposable
{
    readonly List<Process> workers = [];
    public ActorSystem System { get; }
    public IActorRef AgentRegion { get; private set; } = ActorRefs.Nobody;

    /// <summary>The proxy of a population's bases on the workers (<see cref="ClusterNode.HostBases"/>).</summary>
    public IActorRef BaseRegion { get; private set; } = ActorRefs.Nobody;

    LocalCluster(ActorSystem system) => System = system;

    /// <summary>How long workers may take to start (load the runtime, TorchSharp and their agents' definitions) and join.</summary>
    static readonly TimeSpan JoinTimeout = TimeSpan.FromMinutes(2);

    public static LocalCluster Start(Scenario scenario, RunOptions options)
    {
        bool joining = options.ClusterSeeds.Count > 0;
        var cluster = new LocalCluster(joining ? ClusterNode.Start(options.Host, 0, options.ClusterSeeds, [ClusterNode.CoordinatorRole])
            : ActorSystem.Create("evolution", ClusterNode.Config(options.Host, 0, [], [ClusterNode.CoordinatorRole])));
        try
        {
            // Workers that lack a checkpoint get it from here (the weights this run trained or loaded), not by training their own.
            cluster.System.ActorOf(CheckpointShipping.Server(options.CacheRoot), CheckpointShipping.ServerName);
            var self = Akka.Cluster.Cluster.Get(cluster.System);
            if (joining)
            {
                if (ClusterNode.WaitUntilUp(cluster.System, options.ClusterSeeds) is { } problem) throw new RunFailedException(problem);
            }
            else
            {
                self.JoinAsync(self.SelfAddress).Wait(JoinTimeout);
                cluster.StartWorkers(scenario, options, self.SelfAddress.ToString());
            }
            options.Progress?.Report(joining ? $"cluster: coordinator at {self.SelfAddress}, joined {string.Join(", ", options.ClusterSeeds)}"
                : $"cluster: coordinator at {self.SelfAddress}, waiting for {options.LocalNodes} worker node(s)");
            var deadline = DateTime.UtcNow + JoinTimeout;
            void WaitFor(Func<bool> done, string what)
            {
                while (!done())
                {
                    if (cluster.workers.FirstOrDefault(w => w.HasExited) is { } dead)
                        throw new RunFailedException($"a worker node exited (code {dead.ExitCode}) before {what}; its output is above");
                    if (DateTime.UtcNow > deadline) throw new RunFailedException($"worker nodes did not {what} within {JoinTimeout.TotalSeconds:F0} s");
                    if (ClusterNode.Mismatch(self) is { } problem) throw new RunFailedException(problem);
                    Thread.Sleep(100);
                }
            }
            int Workers() => self.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(ClusterNode.WorkerRole));
            WaitFor(() => Workers() >= Math.Max(1, options.LocalNodes), "join the cluster");
            int expected = joining ? Workers() : options.LocalNodes;
            cluster.AgentRegion = ClusterNode.ReachAgents(cluster.System, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            cluster.BaseRegion = ClusterNode.ReachBases(cluster.System, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            // A worker is Up before it hosts its shard regions; shards go to the regions registered when an entity is first asked,
            // so asking before every worker's regions have registered would put every agent (or base) on the first one.
            WaitFor(() => ClusterNode.RegisteredRegions(cluster.AgentRegion) >= expected && ClusterNode.RegisteredRegions(cluster.BaseRegion) >= expected,
                "start hosting agents");
            options.Progress?.Report($"cluster: {expected} worker node(s) up");
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            cluster.System.Dispose();
            throw;
        }
    }

    /// <summary>Starts <see cref="RunOptions.LocalNodes"/> worker processes that join <paramref name="seed"/>, their output relayed as progress.</summary>
    void StartWorkers(Scenario scenario, RunOptions options, string seed)
    {
        if (options.WorkerCommand is not { } command)
            throw new InvalidOperationException("a run on local nodes needs the command that starts a worker (RunOptions.WorkerCommand)");
        for (int n = 0; n < options.LocalNodes; n++)
        {
            var start = new ProcessStartInfo(command.FileName) { RedirectStandardError = true, RedirectStandardOutput = true };
            foreach (var a in command.Arguments.Concat(["node", scenario.Path, "--out", options.OutputDirectory, "--cache", options.CacheRoot,
                "--device", options.Device.type.ToString().ToLowerInvariant(), "--seeds", seed])) start.ArgumentList.Add(a);
            var worker = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command.FileName}");
            int number = n + 1;
            void Relay(object _, DataReceivedEventArgs e) { if (e.Data is { } line) options.Progress?.Report($"node {number}: {line}"); }
            worker.OutputDataReceived += Relay;
            worker.ErrorDataReceived += Relay;
            worker.BeginOutputReadLine();
            worker.BeginErrorReadLine();
            workers.Add(worker);
        }
    }

    public void Dispose()
    {
        foreach (var worker in workers)
        {
            if (!worker.HasExited) worker.Kill(entireProcessTree: true);
            worker.WaitForExit();
            worker.Dispose();
        }
        workers.Clear();
    }
}
