using System.Text.Json;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using static TorchSharp.torch;

namespace Evolution.Scenarios.Tests;

/// <summary><c>trace --methods conformity</c> on a tiny agent: its conformity heads and the diff against its fact-recall circuit.</summary>
[Collection(TinyGroupCollection.Name)]
public class TraceConformityTests(TinyGroup group)
{
    [Fact]
    public void TraceRanksTheConformityHeadsAndDiffsThemAgainstRecall()
    {
        var profile = AgentProfile.Load(group.ProfilePath);
        var trained = AgentTraining.TrainOrLoad(TinyGroup.TinyWorld, profile, File.ReadAllText(group.ProfilePath), group.Cache, CPU);
        trained.Model.Dispose();
        var output = Path.Combine(group.Directory, "conformity-trace");
        var (stdout, stderr, exit) = EditorDefaultsTests.Cli("trace", "--model", trained.Checkpoint, "--methods", "conformity", "--facts", "8", "--peers", "2",
            "--json", "--out", output, "--device", "cpu");
        Assert.True(exit == 0, stderr);
        var result = JsonDocument.Parse(stdout).RootElement.GetProperty("conformity");
        int used = result.GetProperty("contrasts").GetInt32();
        Assert.True(used > 0, stdout);
        Assert.Equal(8, used + result.GetProperty("skipped").GetInt32());
        // Every head of the 2×2 model, ranked by effect, largest first; the top eight (here all four) lead.
        var heads = result.GetProperty("heads").EnumerateArray().Select(h => (Name: h.GetProperty("head").GetString()!, Score: h.GetProperty("score").GetDouble())).ToList();
        Assert.Equal(["L0H0", "L0H1", "L1H0", "L1H1"], heads.Select(h => h.Name).Order());
        Assert.Equal(heads.OrderByDescending(h => h.Score).Select(h => h.Name), heads.Select(h => h.Name));
        Assert.Equal(heads.Select(h => h.Name), result.GetProperty("top_heads").EnumerateArray().Select(h => h.GetProperty("head").GetString()));
        var clean = result.GetProperty("logit_difference").GetProperty("clean").GetDouble();
        Assert.True(clean > result.GetProperty("logit_difference").GetProperty("corrupted").GetDouble(), "peers stating their answer must favour it more than peers stating the agent's own");

        var recall = result.GetProperty("recall_circuit");
        double jaccard = recall.GetProperty("edge_jaccard").GetDouble();
        Assert.InRange(jaccard, 0, 1);
        int edges = result.GetProperty("edges_in_circuit").GetInt32(), shared = recall.GetProperty("shared_edges").GetInt32();
        Assert.Equal(edges, shared + recall.GetProperty("edges_only_in_conformity").GetInt32());
        Assert.Equal(shared / (double)(shared + recall.GetProperty("edges_only_in_conformity").GetInt32() + recall.GetProperty("edges_only_in_recall").GetInt32()), jaccard, 6);
        Assert.All(recall.GetProperty("heads_only_in_conformity").EnumerateArray(), h => Assert.Matches("^L[01]H[01]$", h.GetString()));
        Assert.True(File.Exists(Path.Combine(output, "conformity_circuit.dot")));
    }

    [Fact]
    public void ConformityNeedsTheAgentsWorld()
    {
        var directory = Path.Combine(group.Directory, "no-world");
        var tokenizer = CompactTokenizer.Build(WorldTexts.All(TinyGroup.World()));
        using (var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 64, DModel = 16, NLayers = 1, NHeads = 1 }, 1))
            Checkpoint.Save(directory, model, tokenizer, new Dictionary<string, string>());
        var (_, stderr, exit) = EditorDefaultsTests.Cli("trace", "--model", directory, "--methods", "conformity", "--device", "cpu");
        Assert.NotEqual(0, exit);
        Assert.Contains("--methods", stderr);
        Assert.Contains("conformity need an agent checkpoint", stderr);
    }
}
