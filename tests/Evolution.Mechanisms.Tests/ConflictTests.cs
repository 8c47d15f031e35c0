using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;

namespace Evolution.Mechanisms.Tests;

public class ConflictTests
{
    static readonly ConflictCase Case = new("Kemtaro Drassil was born in Ostravel.", "Q: Where was Kemtaro Drassil born? A:", "Pellamund", "Ostravel");

    static (Gpt, CompactTokenizer) Model()
    {
        var tokenizer = CompactTokenizer.Build([Case.Prompt + " Pellamund", " Ostravel"]);
        return (new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 48, DModel = 16, NLayers = 2, NHeads = 2 }, initSeed: 3), tokenizer);
    }

    [Fact]
    public void MemorizationRatioComparesTheTwoAnswersSequenceProbabilities()
    {
        var (model, tokenizer) = Model();
        var result = KnowledgeConflicts.Analyze(model, tokenizer, Case);
        var scores = new CandidateRanker(model, tokenizer).Score(Case.Prompt, [" Pellamund", " Ostravel"]);
        double pMemory = Math.Exp(scores[0]), pContext = Math.Exp(scores[1]);
        Assert.Equal(pMemory / (pMemory + pContext), result.MemorizationRatio, 9);
        Assert.Equal(scores[0] > scores[1], result.MemoryWins);
        Assert.All(result.AttentionToContext, a => Assert.InRange(a, 0, 1));
    }

    [Fact]
    public void NoConflictMeansRatioOneHalfAndNoLogitDifference()
    {
        var (model, tokenizer) = Model();
        var result = KnowledgeConflicts.Analyze(model, tokenizer, Case with { ContextAnswer = Case.MemoryAnswer });
        Assert.Equal(0.5, result.MemorizationRatio, 9);
        Assert.All(result.AttentionLogitDifference.Concat(result.MlpLogitDifference), d => Assert.Equal(0, d, 9));
    }
}
