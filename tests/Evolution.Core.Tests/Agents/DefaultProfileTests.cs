using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;

namespace Evolution.Core.Tests.Agents;

/// <summary>What runs without <c>--agent</c> is agents/default.yaml, the documented default agent.</summary>
public class DefaultProfileTests
{
    static string Json(AgentProfile p) => JsonSerializer.Serialize(p); // every part but Source

    [Fact]
    public void TheBuiltInDefaultIsTheShippedFile()
    {
        var path = TestWorlds.Profile("default");
        Assert.Equal(File.ReadAllText(path), AgentProfile.DefaultText);
        Assert.Equal(Json(AgentProfile.Load(path)), Json(AgentProfile.Default));
        Assert.Contains("agents/default.yaml", AgentProfile.Default.Source);
    }

    [Fact]
    public void TrainingWithoutAProfileUsesTheCheckpointOfTheShippedDefault()
    {
        var spec = WorldSpec.Load(TestWorlds.Spec("default"));
        var cache = Path.Combine(Path.GetTempPath(), "evolution-no-cache");
        var (implicitProfile, implicitText) = AgentProfile.LoadOrDefault(null);
        var (explicitProfile, explicitText) = AgentProfile.LoadOrDefault(TestWorlds.Profile("default"));
        Assert.Equal(AgentTraining.CacheKey(spec, explicitProfile), AgentTraining.CacheKey(spec, implicitProfile));
        Assert.Equal(AgentTraining.CheckpointDirectory(spec, explicitProfile, cache), AgentTraining.CheckpointDirectory(spec, implicitProfile, cache));
        Assert.Equal(explicitText, implicitText); // the checkpoint's profile.yaml is the file either way
    }

    /// <summary>
    /// As the small profile's fingerprint in CorpusAndEvalTests: the default agent is cached by a hash of its inputs and
    /// <see cref="AgentTraining.CodeVersion"/>, not of its corpus, so a code change that silently changes its corpus would load
    /// a stale agent. If this fails, bump CodeVersion if the change was meant, then update the fingerprint.
    /// </summary>
    [Fact]
    public void ShippedDefaultProfileCorpusIsUnchangedForThisCodeVersion()
    {
        var world = World.Generate(WorldSpec.Load(TestWorlds.Spec("default")));
        var profile = AgentProfile.Load(TestWorlds.Profile("default"));
        string Fingerprint(int pass) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join("\n", CorpusBuilder.Build(world, profile.Data, profile.Training.Seed, pass).Documents))))[..16];
        Assert.True(profile.Data.FreshPasses); // so the later passes' documents are part of what it learns, and pinned too
        Assert.Equal((5, "C0877337AE5463EE", "3F1F771213255021"), (AgentTraining.CodeVersion, Fingerprint(0), Fingerprint(1)));
    }
}
