using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Training;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Training;

public class TrainerTests
{
    static readonly string[] People = ["Aldo Vekmar", "Bria Tolun", "Cass Remdor", "Dova Krill", "Enno Paxter", "Fira Omdal", "Gus Helvar", "Hana Quorr"];
    static readonly string[] Cities = [" Pellamund", " Ostravel", " Kinmora", " Zettrin"];

    static (List<string> Documents, List<RankingItem> Queries) HandMadeFacts()
    {
        var documents = new List<string>();
        var queries = new List<RankingItem>();
        for (int i = 0; i < People.Length; i++)
        {
            var city = Cities[(i * 3 + 1) % Cities.Length];
            documents.Add($"{People[i]} was born in{city}.");
            documents.Add($"The birthplace of {People[i]} is{city}.");
            documents.Add($"Q: Where was {People[i]} born? A:{city}");
            queries.Add(new RankingItem("born_in", $"Q: Where was {People[i]} born? A:", city, Cities));
        }
        return (documents, queries);
    }

    static Gpt TinyModel(int vocab, int seed)
    {
        return new Gpt(new GptConfig { VocabSize = vocab, ContextLength = 32, DModel = 32, NLayers = 2, NHeads = 2 }, seed);
    }

    [Fact]
    public void TinyModelLearnsHandMadeFacts()
    {
        var (documents, queries) = HandMadeFacts();
        var tokenizer = CompactTokenizer.Build(documents);
        var model = TinyModel(tokenizer.VocabSize, seed: 3);
        var ranker = new CandidateRanker(model, tokenizer);
        double before = RankingMetrics.Of(ranker.Rank(queries).ToList()).Hit1;

        var result = new Trainer(model, new TrainingOptions { Seed = 3, BatchSize = 8, MaxSteps = 300, WarmupSteps = 20, LearningRate = 3e-3 })
            .Train(tokenizer, documents);

        var after = RankingMetrics.Of(ranker.Rank(queries).ToList());
        Assert.True(after.Hit1 >= 0.9, $"Hit@1 after training {after.Hit1:F2} (before {before:F2}, loss {result.FinalLoss:F3})");
        Assert.True(result.FinalLoss < 1.0, $"final loss {result.FinalLoss}");
    }

    [Fact]
    public void LaterPassesReadTheirOwnDocuments()
    {
        // Hana's birthplace is only in the documents of passes 1 and later: a trainer that kept reading pass 0 never learns it.
        var (documents, queries) = HandMadeFacts();
        var tokenizer = CompactTokenizer.Build(documents);
        var all = documents.Select(tokenizer.Encode).ToList();
        var withoutHana = documents.Where(d => !d.Contains("Hana", StringComparison.Ordinal)).Select(tokenizer.Encode).ToList();
        var asked = new List<int>();
        IReadOnlyList<int[]> DocumentsOfPass(int pass)
        {
            asked.Add(pass);
            return pass == 0 ? withoutHana : all;
        }
        var model = TinyModel(tokenizer.VocabSize, seed: 3);
        new Trainer(model, new TrainingOptions { Seed = 3, BatchSize = 8, MaxSteps = 300, WarmupSteps = 20, LearningRate = 3e-3 })
            .TrainOnPasses(DocumentsOfPass, tokenizer.EndOfText);

        Assert.Equal(Enumerable.Range(0, asked.Count), asked); // each pass asked for once, in order
        Assert.True(asked.Count > 10, $"{asked.Count} passes");
        var hana = new CandidateRanker(model, tokenizer).Rank([queries.Single(q => q.Prompt.Contains("Hana", StringComparison.Ordinal))]).Single();
        Assert.Equal(1, hana.Rank);
    }

    [Fact]
    public void SameSeedGivesIdenticalWeights()
    {
        var (documents, _) = HandMadeFacts();
        var tokenizer = CompactTokenizer.Build(documents);
        Tensor TrainOnce(int seed)
        {
            var model = TinyModel(tokenizer.VocabSize, seed);
            new Trainer(model, new TrainingOptions { Seed = seed, BatchSize = 4, MaxSteps = 15, WarmupSteps = 2 }).Train(tokenizer, documents);
            return model.Blocks[1].Mlp.Out.weight!.detach().clone();
        }
        var first = TrainOnce(5);
        Assert.True(first.allclose(TrainOnce(5), 0, 0), "same seed gave different weights");
        Assert.False(first.allclose(TrainOnce(6), 0, 0), "different seeds gave identical weights");
    }

    [Fact]
    public void EarlyStopHappensAtTheTargetAccuracy()
    {
        var (documents, queries) = HandMadeFacts();
        var tokenizer = CompactTokenizer.Build(documents);
        var model = TinyModel(tokenizer.VocabSize, seed: 3);
        var ranker = new CandidateRanker(model, tokenizer);
        double Live() => RankingMetrics.Of(ranker.Rank(queries).ToList()).Hit1;
        var options = new TrainingOptions { Seed = 3, BatchSize = 8, MaxSteps = 2000, WarmupSteps = 20, LearningRate = 3e-3, EvalEvery = 25, TargetHit1 = 1.0 };
        var result = new Trainer(model, options).Train(tokenizer, documents, Live);
        Assert.True(result.Steps < options.MaxSteps, "never reached the target");
        Assert.Equal(0, result.Steps % options.EvalEvery);
        Assert.Equal(1.0, result.FinalLiveHit1);
    }
}
