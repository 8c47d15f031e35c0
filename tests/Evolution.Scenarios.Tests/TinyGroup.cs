using Evolution.Agents;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Worlds;
using Evolution.Scenarios;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary>
/// Three tiny agents on the tiny world, trained once for every test that needs them (a private
/// checkpoint cache), and a scenario file that uses them. Their profile reads peer statements in
/// training, so peers can sway them.
/// </summary>
public sealed class TinyGroup : IDisposable
{
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("evolution-scenarios").FullName;
    public string Cache => Path.Combine(Directory, "cache");
    public string ProfilePath => Path.Combine(Directory, "tiny-social.yaml");
    public static string RepositoryRoot { get; } = FindRoot();
    public static string TinyWorld => Path.Combine(RepositoryRoot, "scenarios", "worlds", "tiny.yaml");

    public TinyGroup()
    {
        File.WriteAllText(ProfilePath, """
            name: tiny-social
            model: {layers: 2, d_model: 64, heads: 2, context: 128}
            data: {context_share: 2.0, context_disagree_share: 0.5, context_follow_share: 0.9, peer_lines_per_fact: 3, peer_follow_share: 0.7}
            training: {seed: 1, steps: 600, batch_size: 16, learning_rate: 0.003, warmup_steps: 50, eval_every: 0}
            """);
        foreach (var seed in new[] { 1, 2, 3 })
        {
            var profile = AgentProfile.Load(ProfilePath);
            AgentTraining.TrainOrLoad(TinyWorld, profile with { Training = profile.Training with { Seed = seed } }, File.ReadAllText(ProfilePath), Cache, CPU).Model.Dispose();
        }
    }

    /// <summary>A scenario over the three agents (ada learns news by FT-L) with the given steps, written next to the profile.</summary>
    public string WriteScenario(string name, string steps, string? extraAgentLines = null)
    {
        var path = Path.Combine(Directory, name + ".yaml");
        File.WriteAllText(path, $"""
            name: {name}
            seed: 5
            world: {TinyWorld}
            agents:
              - name: ada
                profile: tiny-social.yaml
                seed: 1
                update: ft-l
              - name: bo
                profile: tiny-social.yaml
                seed: 2
              - name: cy
                profile: tiny-social.yaml
                seed: 3
            {extraAgentLines ?? ""}
            steps:
            {steps}
            """);
        return path;
    }

    public RunOptions Options(string runDirectory) => new(runDirectory, Cache, CPU);

    /// <summary>
    /// Starts <c>evolution run</c> on <paramref name="scenario"/> in its own process and kills it (SIGKILL: no chance to
    /// clean up) as soon as it prints a progress line containing <paramref name="killAt"/>. Waits on that event, not on a
    /// clock, so a loaded machine only makes it slower; fails, with the output, if the run ends first.
    /// </summary>
    public async Task KillRunAt(string scenario, string runDirectory, string killAt)
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "evolution.dll");
        var start = new System.Diagnostics.ProcessStartInfo("dotnet", [cli, "run", scenario, "--out", runDirectory, "--cache", Cache, "--device", "cpu"])
            { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        var seen = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new System.Collections.Concurrent.ConcurrentQueue<string>();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) { seen.TrySetResult(false); return; } // stderr closed: the process ended
            output.Enqueue(e.Data);
            if (e.Data.Contains(killAt)) seen.TrySetResult(true);
        };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        Assert.True(await seen.Task, $"the run ended before printing '{killAt}':\n" + string.Join("\n", output));
        process.Kill();
        process.WaitForExit();
    }

    /// <summary>One agent's runtime, built as a run builds it (from the cached checkpoint; a memory channel's memory at <paramref name="memoryPath"/>).</summary>
    public AgentRuntime Runtime(string name, int seed, AgentTraits? traits = null, UpdateChannel channel = UpdateChannel.None, string? memoryPath = null)
    {
        var profile = AgentProfile.Load(ProfilePath);
        profile = profile with { Training = profile.Training with { Seed = seed }, Traits = traits ?? new AgentTraits(), Update = new UpdatePolicy { Channel = channel } };
        var trained = AgentTraining.TrainOrLoad(TinyWorld, profile, File.ReadAllText(ProfilePath), Cache, CPU);
        var parts = new AgentRuntime.Parts(trained.Model, trained.Tokenizer, trained.World, profile);
        return new AgentRuntime(name, parts, memoryPath is null ? null : RetrievalMemory.Open(memoryPath, parts));
    }

    public static World World() => Core.Worlds.World.Generate(WorldSpec.Load(TinyWorld));

    public void Dispose() => System.IO.Directory.Delete(Directory, recursive: true);

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Evolution.sln"))) return dir.FullName;
        throw new InvalidOperationException("repository root (Evolution.sln) not found above " + AppContext.BaseDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class TinyGroupCollection : ICollectionFixture<TinyGroup>
{
    public const string Name = "tiny group";
}
