using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Evaluation;
using Evolution.Core.Worlds;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Agents;

/// <summary>One tiny agent trained once for the whole class (a few seconds), then checked from several sides.</summary>
public sealed class TinyAgentFixture : IDisposable
{
    public const string Profile = """
        name: tiny-test
        model: {layers: 2, d_model: 64, heads: 2, context: 64}
        data: {biographies_per_entity: 6, qa_per_fact: 3}
        training: {seed: 4, steps: 700, batch_size: 16, learning_rate: 0.003, warmup_steps: 50, eval_every: 100}
        """;

    public string CacheRoot { get; } = Directory.CreateTempSubdirectory("evolution-cache").FullName;
    public string ProfilePath { get; }
    public TrainedAgent Agent { get; }

    public TinyAgentFixture()
    {
        ProfilePath = Path.Combine(CacheRoot, "tiny-test.yaml");
        File.WriteAllText(ProfilePath, Profile);
        Agent = AgentTraining.TrainOrLoad(TestWorlds.Spec("tiny"), ProfilePath, CacheRoot, CPU);
    }

    public void Dispose() => Directory.Delete(CacheRoot, recursive: true);
}

public class AgentTrainingTests(TinyAgentFixture fixture) : IClassFixture<TinyAgentFixture>
{
    [Fact]
    public void TinyWorldIsLearned()
    {
        var train = fixture.Agent.Report.Evaluation.BySet[EvalSets.Train];
        Assert.False(fixture.Agent.FromCache);
        Assert.True(train.Hit1 >= 0.9, $"Hit@1 on training-template queries {train.Hit1:F3}");
        Assert.True(train.Count >= 50);
    }

    [Fact]
    public void LearnedFactIsRecalledByGreedyGeneration()
    {
        var agent = fixture.Agent;
        var ranker = new CandidateRanker(agent.Model, agent.Tokenizer);
        var queries = EvalSets.TrainQueries(agent.World, agent.Profile.Data);
        var recalled = queries.Count(q => ranker.Generate(q.Prompt, maxTokens: 8).StartsWith(q.Answer, StringComparison.Ordinal));
        Assert.True(recalled >= queries.Count * 0.8, $"{recalled}/{queries.Count} answers generated verbatim");
    }

    [Fact]
    public void SecondRunLoadsFromTheCacheWithIdenticalWeights()
    {
        var again = AgentTraining.TrainOrLoad(TestWorlds.Spec("tiny"), fixture.ProfilePath, fixture.CacheRoot, CPU);
        Assert.True(again.FromCache);
        Assert.Equal(fixture.Agent.Checkpoint, again.Checkpoint);
        using var _ = no_grad();
        var tokens = tensor(new long[] { 0, 5, 9, 12, 3 }).unsqueeze(0);
        Assert.True(fixture.Agent.Model.forward(tokens).allclose(again.Model.forward(tokens), 0, 0), "cached model differs from the trained one");
    }

    [Fact]
    public void CacheKeyChangesWithEveryInputThatDeterminesTheWeights()
    {
        var spec = WorldSpec.Load(TestWorlds.Spec("tiny"));
        var profile = AgentProfile.Parse(TinyAgentFixture.Profile, "p.yaml");
        var key = AgentTraining.CacheKey(spec, profile);
        Assert.Equal(key, AgentTraining.CacheKey(WorldSpec.Load(TestWorlds.Spec("tiny")), AgentProfile.Parse(TinyAgentFixture.Profile, "other-name.yaml")));
        Assert.NotEqual(key, AgentTraining.CacheKey(spec with { Seed = 99 }, profile));
        Assert.NotEqual(key, AgentTraining.CacheKey(spec, profile with { Training = profile.Training with { Seed = 5 } }));
        Assert.NotEqual(key, AgentTraining.CacheKey(spec, profile with { Data = profile.Data with { ContextShare = 0.9 } }));
        Assert.NotEqual(key, AgentTraining.CacheKey(spec, profile with { Model = profile.Model with { Layers = 3 } }));
        // d_mlp left out keeps the key (4·d_model, as before the field existed); set, even to 4·d_model, it is part of it.
        var wide = AgentProfile.Parse(TinyAgentFixture.Profile.Replace("context: 64}", "context: 64, d_mlp: 96}"), "p.yaml");
        Assert.Equal(96, wide.Model.ToConfig(50).DMlp);
        Assert.Equal(4 * profile.Model.DModel, profile.Model.ToConfig(50).DMlp);
        Assert.NotEqual(key, AgentTraining.CacheKey(spec, wide));
    }

    [Fact]
    public void CheckpointRoundTripReproducesLogits()
    {
        var agent = fixture.Agent;
        var directory = Path.Combine(fixture.CacheRoot, "copy");
        Checkpoint.Save(directory, agent.Model, agent.Tokenizer);
        var (loaded, tokenizer) = Checkpoint.Load(directory);
        var text = EvalSets.TrainQueries(agent.World, agent.Profile.Data)[0].Prompt;
        Assert.Equal(agent.Tokenizer.Encode(text), tokenizer.Encode(text));
        using var _ = no_grad();
        var tokens = tensor(agent.Tokenizer.Encode(text).Select(i => (long)i).ToArray()).unsqueeze(0);
        Assert.True(agent.Model.forward(tokens).allclose(loaded.forward(tokens), 0, 0));
    }

    [Fact]
    public void CorruptCheckpointIsRejectedWithTheFileName()
    {
        var directory = Path.Combine(fixture.CacheRoot, "corrupt");
        Checkpoint.Save(directory, fixture.Agent.Model, fixture.Agent.Tokenizer);
        var weights = Path.Combine(directory, Checkpoint.WeightsFile);
        var bytes = File.ReadAllBytes(weights);
        File.WriteAllBytes(weights, bytes[..(bytes.Length / 2)]); // truncated, as by a crash mid-copy
        var error = Assert.Throws<CheckpointFormatException>(() => Checkpoint.Load(directory));
        Assert.Contains(weights, error.Message);
    }
}
