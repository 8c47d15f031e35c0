using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Training;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

/// <summary>
/// Two tiny models trained on the same contexts, one to answer from the context (a reader), one to answer from memory
/// whatever the context says (stubborn): the conflict analysis must tell them apart, with the ratio computed here from
/// the models' own next-token probabilities.
/// </summary>
public class ConflictTests
{
    const string Person = "Kemtaro Drassil", Memory = "Pellamund";
    static readonly string[] ContextCities = ["Ostravel", "Veltra", "Dunmarrow", "Kessing"];
    static readonly string Question = $"Q: Where was {Person} born? A:";
    static readonly ConflictCase Case = new($"{Person} was born in Ostravel.", Question, Memory, "Ostravel");

    static (Gpt Model, CompactTokenizer Tokenizer) Train(bool followContext)
    {
        var documents = ContextCities.Select(c => new ConflictCase($"{Person} was born in {c}.", Question, Memory, c))
            .Select(c => $"{c.Prompt} {(followContext ? c.ContextAnswer : c.MemoryAnswer)}").Append($"{Question} {Memory}").ToList();
        var tokenizer = CompactTokenizer.Build(documents);
        var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 48, DModel = 32, NLayers = 2, NHeads = 2 }, initSeed: 3);
        new Trainer(model, new TrainingOptions { MaxSteps = 300, LearningRate = 3e-3, WarmupSteps = 20, EvalEvery = 0 }).Train(tokenizer, documents);
        return (model, tokenizer);
    }

    /// <summary>log p(answer | prompt), summed over the answer's tokens, read off one forward pass.</summary>
    static double LogProbability(Gpt model, ITextTokenizer tokenizer, string prompt, string answer)
    {
        int[] context = [tokenizer.EndOfText, .. tokenizer.Encode(prompt)];
        var continuation = tokenizer.Encode(" " + answer);
        int[] all = [.. context, .. continuation];
        model.eval();
        using var _ = no_grad();
        using var logProbs = model.forward(tensor(all.Select(t => (long)t).ToArray(), [1, all.Length])).log_softmax(-1);
        return continuation.Select((token, i) => (double)logProbs[0, context.Length - 1 + i, token].item<float>()).Sum();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void TheContextWinsForAReaderAndLosesForAStubbornModel(bool followContext)
    {
        var (model, tokenizer) = Train(followContext);
        using var _ = model;
        var result = KnowledgeConflicts.Analyze(model, tokenizer, Case);

        double pMemory = Math.Exp(LogProbability(model, tokenizer, Case.Prompt, Memory));
        double pContext = Math.Exp(LogProbability(model, tokenizer, Case.Prompt, Case.ContextAnswer));
        double expected = pMemory / (pMemory + pContext);
        Assert.Equal(expected, result.MemorizationRatio, 5);
        Assert.Equal(!followContext, result.MemoryWins);
        if (followContext) Assert.True(expected < 0.1, $"the reader should follow the context: ratio {expected}");
        else Assert.True(expected > 0.9, $"the stubborn model should keep its memory: ratio {expected}");
        Assert.All(result.AttentionToContext, a => Assert.InRange(a, 0, 1));
    }
}
