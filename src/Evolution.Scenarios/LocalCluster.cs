using System.Diagnostics;
using Akka.Actor;
using Evolution.Agents.Cluster;

namespace Evolution.Scenarios;

/// <summary>
/// A run whose agents live on worker processes of this machine (<c>run --local-nodes N</c>): this process is the coordinator (the
/// moderator, the recorder and the tracer, or a population's agents, and proxies of the agents' and bases' shard regions), and N processes started with
/// <see cref="RunOptions.WorkerCommand"/> (<c>evolution node</c>) join it and host the agents (or a population's bases) as sharded entities. Workers are
/// killed when the run ends.
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
        if (options.WorkerCommand is not { } command)
            throw new InvalidOperationException("a run on local nodes needs the command that starts a worker (RunOptions.WorkerCommand)");
        var cluster = new LocalCluster(ActorSystem.Create("evolution", ClusterNode.Config("127.0.0.1", 0, [], ["coordinator"])));
        try
        {
            var self = Akka.Cluster.Cluster.Get(cluster.System);
            self.JoinAsync(self.SelfAddress).Wait(JoinTimeout);
            for (int n = 0; n < options.LocalNodes; n++)
            {
                var start = new ProcessStartInfo(command.FileName) { RedirectStandardError = true, RedirectStandardOutput = true };
                foreach (var a in command.Arguments.Concat(["node", scenario.Path, "--out", options.OutputDirectory, "--cache", options.CacheRoot,
                    "--device", options.Device.type.ToString().ToLowerInvariant(), "--seeds", self.SelfAddress.ToString()])) start.ArgumentList.Add(a);
                var worker = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command.FileName}");
                int number = n + 1;
                void Relay(object _, DataReceivedEventArgs e) { if (e.Data is { } line) options.Progress?.Report($"node {number}: {line}"); }
                worker.OutputDataReceived += Relay;
                worker.ErrorDataReceived += Relay;
                worker.BeginOutputReadLine();
                worker.BeginErrorReadLine();
                cluster.workers.Add(worker);
            }
            options.Progress?.Report($"cluster: coordinator at {self.SelfAddress}, waiting for {options.LocalNodes} worker node(s)");
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
            WaitFor(() => self.State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up && m.HasRole(ClusterNode.WorkerRole)) >= options.LocalNodes, "join the cluster");
            cluster.AgentRegion = ClusterNode.ReachAgents(cluster.System, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            cluster.BaseRegion = ClusterNode.ReachBases(cluster.System, ClusterNode.WorkerRole).GetAwaiter().GetResult();
            // A worker is Up before it hosts its shard regions; shards go to the regions registered when an entity is first asked,
            // so asking before every worker's regions have registered would put every agent (or base) on the first one.
            WaitFor(() => ClusterNode.RegisteredRegions(cluster.AgentRegion) >= options.LocalNodes && ClusterNode.RegisteredRegions(cluster.BaseRegion) >= options.LocalNodes,
                "start hosting agents");
            options.Progress?.Report($"cluster: {options.LocalNodes} worker node(s) up");
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            cluster.System.Dispose();
            throw;
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
