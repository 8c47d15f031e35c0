using Akka.Actor;
using Akka.Configuration;
using Evolution.Agents;
using Evolution.Agents.Cluster;
using Evolution.Agents.Recording;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Text;
using Evolution.Core.Training;
using Evolution.Core.Worlds;
using Evolution.Scenarios.Population;
using static TorchSharp.torch;

namespace Evolution.Scenarios;

/// <summary>Where and how a run happens.</summary>
/// <param name="MemoryFactory">Builds an agent's retrieval memory at a path (default: <see cref="RetrievalMemory.Open"/>, LiteDB with hybrid retrieval).</param>
public sealed record RunOptions(string OutputDirectory, string CacheRoot, Device Device, IProgress<string>? Progress = null,
    IProgress<TrainingProgress>? TrainingProgress = null, Func<string, AgentRuntime.Parts, IStatementMemory>? MemoryFactory = null)
{
    public TimeSpan AskTimeout { get; init; } = TimeSpan.FromMinutes(10);
    /// <summary>Above 0: the agents live on this many worker processes of this machine (<see cref="LocalCluster"/>), not in this one.</summary>
    public int LocalNodes { get; init; }
    /// <summary>Given: the agents live on the worker nodes already running at these seed addresses (<c>run --cluster</c>), which this process joins.</summary>
    public IReadOnlyList<string> ClusterSeeds { get; init; } = [];
    /// <summary>The address this process listens on when it coordinates a cluster (<c>run --host</c>; workers must reach it).</summary>
    public string Host { get; init; } = "127.0.0.1";
    /// <summary>On a worker node: gets a checkpoint directory the cache lacks from the coordinator (<see cref="Agents.Cluster.CheckpointShipping.Fetch"/>).</summary>
    public Func<string, bool>? FetchCheckpoint { get; init; }
    /// <summary>Whether the agents (a population's bases) live on worker nodes.</summary>
    public bool OnCluster => LocalNodes > 0 || ClusterSeeds.Count > 0;
    /// <summary>The program and leading arguments that run the <c>evolution</c> command (a worker is it with <c>node …</c>).</summary>
    public (string FileName, IReadOnlyList<string> Arguments)? WorkerCommand { get; init; }
}

/// <summary>What a finished run produced.</summary>
public sealed record RunResult(string Directory, RunSummary Summary, IReadOnlyList<string> Files);

/// <summary>
/// Runs a scenario: trains or loads each agent (through the checkpoint cache), starts the actors
/// (moderator, agents, recorder, tracer), runs the steps, and writes the results folder from the
/// run database. <see cref="Resume"/> continues a killed run from its folder: it replays the steps,
/// reading back every answer already recorded and re-applying updates, so it ends exactly where an
/// uninterrupted run ends.
/// </summary>
public static class ScenarioRunner
{
    public static RunResult Run(Scenario scenario, RunOptions options, bool force = false)
    {
        var dbPath = Path.Combine(options.OutputDirectory, RunDatabase.FileName);
        RunFolder.Prepare(options.OutputDirectory, force);
        using (var db = new RunDatabase(dbPath))
            db.Save(new RunInfo { ScenarioPath = scenario.Path, ScenarioText = scenario.Text, Started = DateTime.UtcNow });
        return Execute(scenario, options);
    }

    /// <summary>Continues the run in <paramref name="directory"/> with the scenario it recorded.</summary>
    public static RunResult Resume(string directory, RunOptions options)
    {
        var dbPath = Path.Combine(directory, RunDatabase.FileName);
        if (!File.Exists(dbPath)) throw new InputException(directory, null, $"no {RunDatabase.FileName} here: not a run folder");
        Scenario scenario;
        using (var db = new RunDatabase(dbPath))
        {
            var info = db.Info ?? throw new InputException(dbPath, "run", "the run database has no run record");
            scenario = Scenario.Parse(info.ScenarioText, info.ScenarioPath);
            info.Resumes++;
            info.Status = "running";
            db.Save(info);
        }
        return Execute(scenario, options with { OutputDirectory = directory });
    }

    static RunResult Execute(Scenario scenario, RunOptions options)
    {
        if (scenario.Population is not null)
        {
            using (var populationDb = new RunDatabase(Path.Combine(options.OutputDirectory, RunDatabase.FileName)))
            {
                PopulationRun.Execute(scenario, options, populationDb);
                MarkFinished(populationDb);
            }
            return RunResults.Write(options.OutputDirectory, options.Progress);
        }
        var world = World.Generate(scenario.WorldSpec);
        var homes = Homes(scenario, world, options);

        var dbPath = Path.Combine(options.OutputDirectory, RunDatabase.FileName);
        using (var db = new RunDatabase(dbPath))
        {
            using var cluster = options.OnCluster ? LocalCluster.Start(scenario, options) : null;
            using var system = cluster?.System ?? ActorSystem.Create("evolution", ConfigurationFactory.ParseString(
                "akka { loglevel = WARNING, stdout-loglevel = WARNING, log-dead-letters = off, log-dead-letters-during-shutdown = off }"));
            var setup = new RunSetup(homes, db, world, scenario.Seed, scenario.Agents.ToDictionary(a => a.Name, a => a.Profile), options.Progress, options.AskTimeout,
                cluster?.AgentRegion);
            // On a cluster, the coordinator's singletons: the workers' agents read their history from the recorder.
            var moderator = cluster is null ? system.ActorOf(ModeratorActor.Props(setup), ClusterNode.ModeratorName)
                : ClusterNode.Singleton(system, ModeratorActor.Props(setup with { Recorder = ClusterNode.Singleton(system, RecorderActor.Props(db), ClusterNode.RecorderName) }),
                    ClusterNode.ModeratorName);
            var asked = moderator.Ask<RunCompleted>(new StartRun(scenario.Steps), Timeout.InfiniteTimeSpan);
            // A coordinator downed by the split-brain resolver (it kept the minority when nodes were lost) terminates its system,
            // and the run's ask would wait for ever.
            if (Task.WaitAny(asked, system.WhenTerminated) == 1 && !asked.IsCompleted)
                throw new RunFailedException($"this process left the cluster (the split-brain resolver downed it: it was in the minority after nodes were lost). Continue the run with `evolution resume {options.OutputDirectory}`.");
            var completed = asked.GetAwaiter().GetResult();
            system.Terminate().Wait(TimeSpan.FromSeconds(30));
            if (completed.Error is not null) throw new RunFailedException($"the run stopped: {completed.Error}. Continue it with `evolution resume {options.OutputDirectory}`.");
            MarkFinished(db);
        }
        return RunResults.Write(options.OutputDirectory, options.Progress);
    }

    /// <summary>
    /// How to build each agent of the scenario (<see cref="AgentHome"/>): trained or loaded through the checkpoint cache now, its
    /// model loaded and its memory (under the run folder) opened when an actor builds it. Every node of a run builds the same homes.
    /// </summary>
    /// <param name="node">A worker node's name: its agents' memories are its own files (<c>memory/AGENT@NODE.db</c>), filled from the
    /// run database's history when an agent comes to it, as on a machine that shares no folder with the others; null: <c>memory/AGENT.db</c>.</param>
    public static IReadOnlyList<AgentHome> Homes(Scenario scenario, World world, RunOptions options, string? node = null)
    {
        var homes = new List<AgentHome>();
        foreach (var agent in scenario.Agents)
        {
            options.Progress?.Report(agent.Profile.Model.Checkpoint is { } pretrained
                ? $"agent {agent.Name}: loading the pretrained {pretrained}"
                : $"agent {agent.Name}: training or loading ({agent.Profile.Model.Layers} layers, d={agent.Profile.Model.DModel}, seed {agent.Profile.Training.Seed})");
            var trained = AgentTraining.TrainOrLoad(scenario.WorldPath, agent.Profile, agent.ProfileText, options.CacheRoot, options.Device, options.TrainingProgress,
                fetch: options.FetchCheckpoint);
            options.Progress?.Report($"agent {agent.Name}: {(trained.FromCache ? "loaded from cache" : $"trained in {trained.Report.Seconds:F0} s")}, train Hit@1 {trained.Report.Evaluation.BySet["train"].Hit1:F2}");
            trained.Model.Dispose();
            var checkpoint = trained.Checkpoint;
            var memoryPath = Path.Combine(options.OutputDirectory, RunFolder.MemoryDirectory, node is null ? $"{agent.Name}.db" : $"{agent.Name}@{node}.db");
            var needsMemory = agent.Profile.Update.UsesMemory;
            var openMemory = options.MemoryFactory ?? RetrievalMemory.Open;
            homes.Add(new AgentHome(agent.Name, () =>
            {
                var (model, tokenizer) = Checkpoint.Load(checkpoint, options.Device);
                var parts = new AgentRuntime.Parts(model, tokenizer, world, agent.Profile);
                if (needsMemory) Directory.CreateDirectory(Path.GetDirectoryName(memoryPath)!);
                return new AgentRuntime(agent.Name, parts, needsMemory ? openMemory(memoryPath, parts) : null);
            }));
        }
        return homes;
    }

    static void MarkFinished(RunDatabase db)
    {
        var info = db.Info!;
        info.Status = "finished";
        info.Finished = DateTime.UtcNow;
        db.Save(info);
        db.Checkpoint();
    }
}

/// <summary>A run stopped for a reason that is not the user's input (it can be resumed).</summary>
public sealed class RunFailedException(string message) : Exception(message);
