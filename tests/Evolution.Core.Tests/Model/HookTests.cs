using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Model;

public class HookTests
{
    static readonly GptConfig Tiny = new() { VocabSize = 37, ContextLength = 12, DModel = 16, NLayers = 2, NHeads = 2 };

    static (Gpt Model, Tensor Tokens) TinyModel(int seed = 1)
    {
        var model = new Gpt(Tiny, seed);
        manual_seed(seed);
        model.eval();
        var tokens = randint(0, Tiny.VocabSize, new long[] { 3, 10 });
        return (model, tokens);
    }

    [Fact]
    public void ParameterNamesFollowTheDocumentedLayout()
    {
        var (model, _) = TinyModel();
        var names = model.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("wte.weight", names);
        Assert.Contains("wpe.weight", names);
        Assert.Contains("blocks.1.attn.c_attn.weight", names);
        Assert.Contains("blocks.0.mlp.c_proj.bias", names);
        Assert.Contains("ln_f.weight", names);
        Assert.DoesNotContain("lm_head.weight", names); // tied by default
        Assert.Equal(new long[] { 3 * 16, 16 }, model.Blocks[1].Attn.QkvProjection.weight!.shape);
    }

    [Fact]
    public void InitialisationDependsOnlyOnTheSeed()
    {
        manual_seed(123); // global state must not matter
        var a = new Gpt(Tiny, initSeed: 9);
        manual_seed(456);
        var b = new Gpt(Tiny, initSeed: 9);
        var c = new Gpt(Tiny, initSeed: 10);
        foreach (var ((name, p), (_, q)) in a.named_parameters().Zip(b.named_parameters()))
            Assert.True(p.allclose(q, 0, 0), $"{name} differs for the same seed");
        Assert.False(a.Blocks[0].Mlp.In.weight!.allclose(c.Blocks[0].Mlp.In.weight!, 0, 0));
    }

    [Fact]
    public void CachedActivationsReproduceTheForwardPass()
    {
        var (model, tokens) = TinyModel();
        using var _ = no_grad();
        var plain = model.forward(tokens);
        var (logits, cache) = model.RunWithCache(tokens);
        using (cache)
        {
            Assert.True(allclose(plain, logits, 1e-5, 1e-6));
            Assert.Equal(model.HookNames.Count, cache.Names.Count);
            // the last residual decoded by the logit lens gives the logits
            Assert.True(allclose(model.Unembed(cache["blocks.1.hook_resid_post"]), logits, 1e-4, 1e-5));
            // resid_post = resid_mid + mlp_out = resid_pre + attn_out + mlp_out
            var rebuilt = cache["blocks.1.hook_resid_pre"].add(cache["blocks.1.hook_attn_out"], Scalars.One).add(cache["blocks.1.hook_mlp_out"], Scalars.One);
            Assert.True(allclose(rebuilt, cache["blocks.1.hook_resid_post"], 1e-4, 1e-5));
            // per-head results sum to the attention output (plus the output bias)
            var heads = cache["blocks.0.attn.hook_result"].sum(2).add(model.Blocks[0].Attn.OutputProjection.bias!, Scalars.One);
            Assert.True(allclose(heads, cache["blocks.0.hook_attn_out"], 1e-4, 1e-5));
            // attention pattern rows are causal distributions
            var pattern = cache["blocks.0.attn.hook_pattern"];
            Assert.True(allclose(pattern.sum(-1), ones_like(pattern.sum(-1)), 1e-5, 1e-6));
            Assert.Equal(0f, pattern[.., .., 0, 1].abs().max().item<float>());
        }
    }

    [Fact]
    public void CacheFilterKeepsOnlyRequestedNames()
    {
        var (model, tokens) = TinyModel();
        using var _ = no_grad();
        var (_, cache) = model.RunWithCache(tokens, n => n.EndsWith("hook_resid_post"));
        using (cache) Assert.Equal(new[] { "blocks.0.hook_resid_post", "blocks.1.hook_resid_post" }, cache.Names.OrderBy(n => n));
    }

    [Fact]
    public void SplitInputsHookedAsIdentityGiveThePlainForward()
    {
        var (model, tokens) = TinyModel();
        using var _ = no_grad();
        var plain = model.forward(tokens);
        var names = Enumerable.Range(0, Tiny.NLayers).SelectMany(Gpt.SplitInputHookNames).ToList();
        var split = model.RunWithHooks(tokens, names.Select(n => Hook.Replace(n, a => a.clone())).ToArray());
        Assert.True(allclose(plain, split, 1e-5, 1e-5), $"max difference {(plain - split).abs().max().item<float>()}");
        var (_, cache) = model.RunWithCache(tokens, names.Contains);
        using (cache)
        {
            Assert.Equal([3L, 10, Tiny.NHeads, Tiny.DModel], cache["blocks.1.hook_q_input"].shape);
            Assert.Equal([3L, 10, Tiny.DModel], cache["blocks.1.hook_mlp_in"].shape);
        }
        var (_, all) = model.RunWithCache(tokens);
        using (all) Assert.DoesNotContain("blocks.0.hook_q_input", all.Names); // a cache of everything stays on the plain path
    }

    [Fact]
    public void EditingOneHeadsQueryInputChangesOnlyThatHead()
    {
        var (model, tokens) = TinyModel();
        using var _ = no_grad();
        using var twenty = 20.ToScalar();
        using var three = 3.ToScalar();
        model.Blocks[1].Attn.QkvProjection.weight!.mul_(twenty); // at init q·k ≈ 0 and the pattern ignores the query
        Tensor Results(params Hook[] hooks)
        {
            var context = new HookContext(hooks, cacheFilter: n => n == "blocks.1.attn.hook_result");
            model.Run(tokens, context);
            return context.Cache["blocks.1.attn.hook_result"];
        }
        var clean = Results(Hook.Replace("blocks.1.hook_q_input", a => a.clone()));
        var edited = Results(Hook.Replace("blocks.1.hook_q_input", a =>
        {
            var copy = a.clone();
            copy[TensorIndex.Colon, TensorIndex.Colon, 1] = copy[TensorIndex.Colon, TensorIndex.Colon, 1].add(randn_like(copy[TensorIndex.Colon, TensorIndex.Colon, 1]).mul(three), Scalars.One);
            return copy;
        }));
        var change = (edited - clean).abs();
        Assert.True(change[TensorIndex.Colon, TensorIndex.Colon, 0].max().item<float>() < 1e-6, "head 0 must not change");
        Assert.True(change[TensorIndex.Colon, TensorIndex.Colon, 1].max().item<float>() > 1e-3, "head 1 must change");
    }

    [Fact]
    public void ReplacingWithItselfChangesNothingAndZerosChangeTheOutput()
    {
        var (model, tokens) = TinyModel();
        using var _ = no_grad();
        var plain = model.forward(tokens);
        foreach (var name in new[] { "blocks.0.mlp.hook_post", "blocks.1.attn.hook_z", "blocks.0.attn.hook_pattern", "blocks.1.attn.hook_result" })
        {
            var same = model.RunWithHooks(tokens, Hook.Replace(name, a => a.clone()));
            Assert.True(allclose(plain, same, 1e-5, 1e-6), $"identity replacement at {name} changed the logits");
            var zeroed = model.RunWithHooks(tokens, Hook.Replace(name, a => zeros_like(a)));
            Assert.True((plain - zeroed).abs().max().item<float>() > 1e-3, $"zeroing {name} did not change the logits");
        }
    }

    [Fact]
    public void AddingAVectorShiftsTheResidualStream()
    {
        var (model, tokens) = TinyModel();
        using var _ = no_grad();
        var delta = randn(Tiny.DModel);
        var (_, clean) = model.RunWithCache(tokens, n => n == "blocks.1.hook_resid_pre");
        var context = new HookContext([Hook.Add("blocks.0.hook_resid_post", delta)], n => n == "blocks.1.hook_resid_pre");
        model.Run(tokens, context);
        Assert.True(allclose(context.Cache["blocks.1.hook_resid_pre"], clean["blocks.1.hook_resid_pre"].add(delta, Scalars.One), 1e-5, 1e-5));
    }

    [Fact]
    public void ReplacementWithWrongShapeIsRejected()
    {
        var (model, tokens) = TinyModel();
        using var _ = no_grad();
        var error = Assert.Throws<ArgumentException>(() => model.RunWithHooks(tokens, Hook.Replace("blocks.0.mlp.hook_post", a => a[.., ..2])));
        Assert.Contains("blocks.0.mlp.hook_post", error.Message);
    }
}
