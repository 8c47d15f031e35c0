using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

/// <summary>Head ablation, head scaling and peer-attention scaling (<see cref="Intervention"/>) against the same computation done by hand.</summary>
public class InterventionTests
{
    static readonly GptConfig Config = new() { VocabSize = 20, ContextLength = 16, DModel = 16, NLayers = 2, NHeads = 4 };
    static readonly long[] Prompt = [0, 5, 3, 9, 2, 7, 11];

    static Tensor Tokens() => tensor(Prompt, [1, Prompt.Length]);

    /// <summary>Layer 1's attention output as the residual stream receives it, with and without the intervention.</summary>
    static (Tensor Clean, Tensor Intervened, Tensor PerHead) AttentionOut(Gpt model, Intervention intervention, IReadOnlyList<Tensor>? means = null,
        IReadOnlyList<(int, int)>? spans = null)
    {
        var (_, clean) = model.RunWithCache(Tokens(), n => n is "blocks.1.hook_attn_out" or "blocks.1.attn.hook_result");
        var context = new HookContext([.. intervention.Hooks(model.Config, means, spans)], cacheFilter: n => n == "blocks.1.hook_attn_out");
        model.Run(Tokens(), context);
        return (clean["blocks.1.hook_attn_out"], context.Cache["blocks.1.hook_attn_out"], clean["blocks.1.attn.hook_result"]);
    }

    [Fact]
    public void ZeroAblationRemovesExactlyTheHeadsWriteToTheResidualStream()
    {
        using var model = new Gpt(Config, 3);
        using var _ = no_grad();
        var (clean, intervened, perHead) = AttentionOut(model, new Intervention("zero", HeadAblation.Zero, [new HeadRef(1, 2)]));
        // Attention output = Σ_h z_h·W_O[h] + b_O: without head 2 it is the clean output less head 2's term.
        var expected = clean - perHead[.., .., 2];
        Assert.True(allclose(intervened, expected, rtol: 1e-4, atol: 1e-5));
        Assert.False(allclose(intervened, clean, rtol: 1e-3, atol: 1e-4));
    }

    [Fact]
    public void ScalingByOneChangesNothingAndScalingByTwoAddsTheHeadOnce()
    {
        using var model = new Gpt(Config, 4);
        using var _ = no_grad();
        var heads = new[] { new HeadRef(1, 0), new HeadRef(1, 3) };
        var (clean, same, perHead) = AttentionOut(model, new Intervention("one", HeadAblation.Scale, heads, Factor: 1));
        Assert.True(allclose(same, clean, rtol: 1e-5, atol: 1e-6));
        var (_, doubled, _) = AttentionOut(model, new Intervention("two", HeadAblation.Scale, heads, Factor: 2));
        Assert.True(allclose(doubled, clean.add(perHead[.., .., 0], Scalars.One).add(perHead[.., .., 3], Scalars.One), rtol: 1e-4, atol: 1e-5));
        // Layer 0's heads were not named: the logits with layer-0-only scaling by one are the clean logits.
        var logits = model.RunWithHooks(Tokens(), [.. new Intervention("l0", HeadAblation.Scale, [new HeadRef(0, 1)], Factor: 1).Hooks(model.Config)]);
        Assert.True(allclose(logits, model.forward(Tokens()), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void MeanAblationPutsTheMeanOutputInPlaceOfTheHead()
    {
        using var model = new Gpt(Config, 5);
        ITextTokenizer tokenizer = CompactTokenizer.Build(["the cat sat on the mat", "a dog ran"]);
        using var lm = new Gpt(Config with { VocabSize = tokenizer.VocabSize }, 5);
        using var _ = no_grad();
        var prompts = new[] { "the cat sat", "a dog ran on the mat", "the dog" };
        var means = Intervention.MeanHeadOutputs(lm, tokenizer, prompts);
        Assert.Equal(Config.NLayers, means.Count);
        Assert.Equal([Config.NHeads, Config.DHead], means[1].shape);
        // The mean over every token of the three prompts, computed here from the cached z.
        var all = prompts.Select(p =>
        {
            int[] ids = [.. tokenizer.PromptStart, .. tokenizer.Encode(p)];
            var (_, cache) = lm.RunWithCache(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length]), n => n == "blocks.1.attn.hook_z");
            return cache["blocks.1.attn.hook_z"][0];
        }).ToList();
        var expectedMean = cat(all, 0).mean([0]);
        Assert.True(allclose(means[1], expectedMean, rtol: 1e-4, atol: 1e-6));

        // Mean-ablating head 1: its term becomes mean_z·W_O[1] at every position.
        var (clean, intervened, perHead) = AttentionOut(model, new Intervention("mean", HeadAblation.Mean, [new HeadRef(1, 1)]), means);
        var wO = model.Blocks[1].Attn.HeadOutputWeights()[1]; // [d_head, d_model]
        var expected = (clean - perHead[.., .., 1]).add(means[1][1].matmul(wO), Scalars.One);
        Assert.True(allclose(intervened, expected, rtol: 1e-4, atol: 1e-5));
        Assert.Throws<ArgumentException>(() => new Intervention("mean", HeadAblation.Mean, [new HeadRef(1, 1)]).Hooks(model.Config));
    }

    [Fact]
    public void PeerAttentionScalesTheWeightOnThePeerSpanAndRenormalises()
    {
        using var model = new Gpt(Config, 6);
        using var _ = no_grad();
        var span = new[] { (1, 4) };
        var one = new Intervention("peers×1", HeadAblation.Scale, [], Factor: 1, PeerAttention: true);
        Assert.True(allclose(model.RunWithHooks(Tokens(), [.. one.Hooks(model.Config, peerSpans: span)]), model.forward(Tokens()), rtol: 1e-5, atol: 1e-6));

        var silence = new Intervention("no peers in L1H2", HeadAblation.Scale, [new HeadRef(1, 2)], Factor: 0, PeerAttention: true);
        var context = new HookContext([.. silence.Hooks(model.Config, peerSpans: span)], cacheFilter: n => n == "blocks.1.attn.hook_pattern");
        model.Run(Tokens(), context);
        var pattern = context.Cache["blocks.1.attn.hook_pattern"][0]; // [head, query, key]
        var (_, clean) = model.RunWithCache(Tokens(), n => n == "blocks.1.attn.hook_pattern");
        var cleanPattern = clean["blocks.1.attn.hook_pattern"][0];
        // Head 2 puts no weight on keys 1..3 and its rows still sum to one; other heads are untouched.
        Assert.Equal(0, pattern[2, .., 1..4].abs().max().item<float>(), 6);
        Assert.True(allclose(pattern[2].sum(-1), ones(Prompt.Length), rtol: 1e-5, atol: 1e-5));
        Assert.True(allclose(pattern[0], cleanPattern[0]));
        // Query 6's weights outside the span are the clean ones renormalised.
        var outside = cat([cleanPattern[2, 6, ..1], cleanPattern[2, 6, 4..]], 0);
        Assert.True(allclose(cat([pattern[2, 6, ..1], pattern[2, 6, 4..]], 0), outside / outside.sum(), rtol: 1e-4, atol: 1e-6));
        // A row without peers is left alone.
        Assert.Empty(silence.Hooks(model.Config, peerSpans: [(0, 0)]));
    }

    [Fact]
    public void HeadsAreParsedByEitherNameAndMissingHeadsAreRejected()
    {
        Assert.Equal(new HeadRef(1, 3), HeadRef.Parse("L1H3"));
        Assert.Equal(new HeadRef(1, 3), HeadRef.Parse("a1.h3"));
        Assert.Null(HeadRef.Parse("layer1"));
        var intervention = new Intervention("bad", HeadAblation.Zero, [new HeadRef(1, 3), new HeadRef(2, 0)]);
        Assert.Equal([new HeadRef(2, 0)], intervention.Missing(Config));
        var error = Assert.Throws<ArgumentException>(() => intervention.Hooks(Config));
        Assert.Contains("L2H0", error.Message);
        Assert.Equal(8, HeadRef.All(2, 4).Count);
    }
}
