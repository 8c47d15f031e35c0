using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

public class MechanismTests
{
    static readonly GptConfig Small = new() { VocabSize = 40, ContextLength = 16, DModel = 16, NLayers = 3, NHeads = 2 };

    static FactPrompt RandomPrompt(int target = 11) => new("synthetic", [0, 5, 6, 9, 12, 4], 1, 3, "t", target);

    [Fact]
    public void FactPromptLocatesTheSubjectTokens()
    {
        var tokenizer = CompactTokenizer.Build(["Q: Where was Kemtaro Drassil born? A: Pellamund"]);
        var prompt = FactPrompt.Build(tokenizer, "Q: Where was Kemtaro Drassil born? A:", "Kemtaro Drassil", "Pellamund");
        Assert.Equal(" Kemtaro Drassil", tokenizer.Decode(prompt.Tokens[prompt.SubjectStart..prompt.SubjectEnd]));
        Assert.Equal(tokenizer.Encode(" Pellamund")[0], prompt.TargetToken);
        Assert.Equal(tokenizer.EndOfText, prompt.Tokens[0]);

        // Without the start token (--no-bos) every position moves one to the left and the subject is still found.
        var bare = FactPrompt.Build(StartToken.Apply(tokenizer, leftOut: true), "Q: Where was Kemtaro Drassil born? A:", "Kemtaro Drassil", "Pellamund");
        Assert.Equal(prompt.Tokens[1..], bare.Tokens);
        Assert.Equal((prompt.SubjectStart - 1, prompt.SubjectEnd - 1), (bare.SubjectStart, bare.SubjectEnd));
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void LogitLensAtTheLastLayerIsTheModelsOutput(string architecture)
    {
        var model = new Gpt(Small.WithArchitecture(architecture), initSeed: 2);
        var prompt = RandomPrompt();
        var lens = LogitLens.Run(model, prompt);
        Assert.Equal(Small.NLayers + 1, lens.Count);
        using var _ = no_grad();
        var probabilities = model.forward(tensor(prompt.Tokens.Select(t => (long)t).ToArray(), [1, prompt.Tokens.Length]))[0, -1].softmax(-1);
        Assert.Equal(probabilities[prompt.TargetToken].item<float>(), lens[^1].Probability, 5);
        Assert.Equal(1 + (int)(probabilities > probabilities[prompt.TargetToken]).sum().item<long>(), lens[^1].Rank);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void DirectLogitAttributionAddsUpToTheLogit(string architecture)
    {
        var model = new Gpt(Small.WithArchitecture(architecture), initSeed: 3);
        var result = DirectLogitAttribution.Run(model, RandomPrompt());
        // embed (+ pos_embed with learned positions), then per layer each head (+ the output bias where there is one) and the MLP
        Assert.Equal(architecture == "gpt2" ? 2 + Small.NLayers * (Small.NHeads + 2) : 1 + Small.NLayers * (Small.NHeads + 1), result.Contributions.Count);
        Assert.Equal(result.Logit, result.Contributions.Sum(c => c.Contribution) + result.Bias, 3);
    }

    [Fact]
    public void DirectLogitAttributionFindsTheMlpThatWritesTheAnswer()
    {
        var model = HandBuiltModels.KnowledgeInMlp1();
        var prompt = new FactPrompt("built", [0, HandBuiltModels.Subject], 1, 2, "t", HandBuiltModels.Target);
        var top = DirectLogitAttribution.Run(model, prompt).Contributions.MaxBy(c => c.Contribution)!;
        Assert.Equal("L1.mlp", top.Component);
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void PatchingEveryCorruptedEmbeddingRestoresTheCleanRunExactly(string architecture)
    {
        var model = new Gpt(Small.WithArchitecture(architecture), initSeed: 4);
        using var _ = no_grad();
        var clean = tensor(new long[] { 0, 5, 6, 9, 12, 4 }).unsqueeze(0);
        var corrupted = tensor(new long[] { 0, 17, 18, 9, 12, 4 }).unsqueeze(0);
        var logits = ActivationPatching.Run(model, clean, corrupted, [
            [],
            [new Patch("blocks.0.hook_resid_pre", 1), new Patch("blocks.0.hook_resid_pre", 2)],
            [new Patch("blocks.0.hook_resid_pre")],
        ]);
        Assert.True(logits[0].allclose(model.forward(corrupted)[0], 1e-5, 1e-5), "no patch must give the corrupted run");
        Assert.True(logits[1].allclose(model.forward(clean)[0], 1e-4, 1e-5), "patching the corrupted positions must give the clean run");
        Assert.True(logits[2].allclose(model.forward(clean)[0], 1e-4, 1e-5), "patching every position must give the clean run");
    }

    [Fact]
    public void CausalTracingLocatesKnowledgePutIntoOneMlp()
    {
        var model = HandBuiltModels.KnowledgeInMlp1();
        var prompt = new FactPrompt("built", [0, HandBuiltModels.Subject], 1, 2, "t", HandBuiltModels.Target);
        var trace = CausalTracing.Trace(model, prompt, TraceKind.Mlp, new CausalTraceOptions(Samples: 5));
        Assert.True(trace.CleanProbability > 0.9, $"clean p = {trace.CleanProbability}");
        Assert.True(trace.CorruptedProbability < 0.5 * trace.CleanProbability, $"corrupted p = {trace.CorruptedProbability}");
        var (layer, position, effect) = trace.Peak();
        Assert.Equal((1, 1), (layer, position));
        // restoring MLP 1 brings the answer back (the noisy embedding stays in the residual, so not bit for bit)
        Assert.True(effect > 0.95 * (trace.CleanProbability - trace.CorruptedProbability), $"effect {effect}");
        Assert.Equal(0, trace.IndirectEffect(0, 1), 6); // MLPs 0 and 2 write nothing
        Assert.Equal(0, trace.IndirectEffect(2, 1), 6);

        // The residual stream after block 1 carries the answer; after block 0 not yet.
        var residual = CausalTracing.Trace(model, prompt, TraceKind.Residual, new CausalTraceOptions(Samples: 5));
        Assert.Equal(residual.CleanProbability, residual.RestoredProbability[1, 1], 4);
        Assert.True(residual.IndirectEffect(0, 1) > 0.5 * (residual.CleanProbability - residual.CorruptedProbability),
            "restoring the clean subject residual before MLP 1 lets MLP 1 fire again");
    }

    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void SymmetricTokenReplacementRestoresAtTheLastState(string architecture)
    {
        var model = new Gpt(Small.WithArchitecture(architecture), initSeed: 6);
        var prompt = RandomPrompt();
        var trace = CausalTracing.Trace(model, prompt, TraceKind.Residual, corruptedTokens: [0, 17, 18, 9, 12, 4]);
        Assert.Equal(trace.CleanProbability, trace.RestoredProbability[Small.NLayers - 1, prompt.LastPosition], 5);
        // before the subject, nothing was corrupted, so restoring there changes nothing
        Assert.Equal(0, trace.IndirectEffect(0, 0), 6);
    }
}

public class PeerPressureTests
{
    [Theory]
    [InlineData("gpt2")]
    [InlineData("llama")]
    public void ComponentsAddUpAttentionIsSharedOutAndTheRatioFollowsTheScores(string architecture)
    {
        var tokenizer = CompactTokenizer.Build(["Context: Orlen Vasko was born in Pellamund. Mirel Tass says Orlen Vasko was born in Pellamund. Q: Where was Orlen Vasko born? A: Drassil Pellamund", "Q: Where was Orlen Vasko born? A:"]);
        var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 64, DModel = 16, NLayers = 2, NHeads = 2 }.WithArchitecture(architecture), initSeed: 5);
        var peerCase = new PeerCase(["Orlen Vasko was born in Pellamund.", "Mirel Tass says Orlen Vasko was born in Pellamund."], "Q: Where was Orlen Vasko born? A:", "Drassil", "Pellamund");
        var result = PeerPressure.Analyze(model, tokenizer, peerCase);

        Assert.Equal(result.LogitDifferenceAlone, result.Components.Sum(c => c.Alone), 3);
        Assert.Equal(result.LogitDifferenceWithPeers, result.Components.Sum(c => c.WithPeers), 3);
        Assert.Equal(2 * 2, result.Components.Count(c => c.Head is not null));
        Assert.Equal(1 / (1 + Math.Exp(result.LogPPeers - result.LogPOwn)), result.MemorizationRatio, 9);
        for (int l = 0; l < 2; l++)
            for (int h = 0; h < 2; h++)
            {
                double peers = result.AttentionToPeers[l][h], query = result.AttentionToQuery[l][h];
                Assert.InRange(peers, 0, 1);
                Assert.InRange(query, 0, 1);
                Assert.True(peers + query <= 1 + 1e-6, $"L{l}H{h}: {peers} + {query}"); // the rest is on the start token and "Context:"
                Assert.True(peers + query > 0.5, $"L{l}H{h}: the statements and the query are most of the prompt");
            }
    }

    [Fact]
    public void ManyAnswersAnalysedInPaddedBatchesGiveWhatEachGivesAlone()
    {
        var tokenizer = CompactTokenizer.Build(["Context: Orlen Vasko was born in Pellamund. Mirel Tass says Orlen Vasko was born in Drassil. Q: Where was Orlen Vasko born? A: Drassil Pellamund", "Q: Where was Orlen Vasko born? A:"]);
        var model = new Gpt(new GptConfig { VocabSize = tokenizer.VocabSize, ContextLength = 64, DModel = 16, NLayers = 2, NHeads = 2 }, initSeed: 7);
        const string query = "Q: Where was Orlen Vasko born? A:";
        // Prompts of different lengths, so the shorter rows are padded in the batch.
        var cases = new[]
        {
            new PeerCase(["Orlen Vasko was born in Pellamund."], query, "Drassil", "Pellamund"),
            new PeerCase(["Orlen Vasko was born in Pellamund.", "Mirel Tass says Orlen Vasko was born in Pellamund."], query, "Drassil", "Pellamund"),
            new PeerCase(["Mirel Tass says Orlen Vasko was born in Drassil."], query, "Pellamund", "Drassil"),
        };
        var batched = PeerPressure.AnalyzeMany(model, tokenizer, [.. cases.Select(c => new PeerQuery(c.Reading, c.OwnAnswer, c.PeersAnswer))]);
        Assert.Equal(cases.Length, batched.Count);
        foreach (var (peerCase, together) in cases.Zip(batched))
        {
            var alone = PeerPressure.Analyze(model, tokenizer, peerCase);
            Assert.Equal(alone.LogitDifferenceAlone, together.LogitDifferenceAlone, 4);
            Assert.Equal(alone.LogitDifferenceWithPeers, together.LogitDifferenceWithPeers, 4);
            Assert.Equal(alone.MemorizationRatio, together.MemorizationRatio, 6);
            foreach (var (a, b) in alone.Components.Zip(together.Components))
                Assert.Equal((a.Component, Math.Round(a.Alone, 4), Math.Round(a.WithPeers, 4)), (b.Component, Math.Round(b.Alone, 4), Math.Round(b.WithPeers, 4)));
            for (int l = 0; l < 2; l++)
                for (int h = 0; h < 2; h++)
                    Assert.Equal(alone.AttentionToPeers[l][h], together.AttentionToPeers[l][h], 5);
        }
        Assert.NotEqual(batched[0].LogitDifferenceWithPeers, batched[1].LogitDifferenceWithPeers); // the rows are not one answer repeated
    }
}
