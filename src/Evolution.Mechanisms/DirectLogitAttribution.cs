using Evolution.Core;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>One component's direct contribution to the target logit.</summary>
public sealed record LogitContribution(string Component, int? Layer, int? Head, double Contribution);

/// <summary>
/// Direct logit attribution (Elhage et al. 2021; TransformerLens' apply_ln_to_stack): the final
/// residual is a sum of component outputs (embeddings, each head, each attention output bias, each
/// MLP), so with the final LayerNorm's scale σ frozen from the clean run the target logit splits into
/// Σ_c ((c − mean c)/σ)·(γ ⊙ W_U[target]) + β·W_U[target]. The contributions plus <see cref="Result.Bias"/>
/// add up to the logit exactly.
/// </summary>
public static class DirectLogitAttribution
{
    public sealed record Result(IReadOnlyList<LogitContribution> Contributions, double Bias, double Logit);

    /// <summary>
    /// The direct effect of a residual-stream component on the logit along <paramref name="unembedding"/>
    /// (a W_U row, or a difference of rows), with the final LayerNorm's scale frozen at the clean
    /// final residual: ((c − mean c)/σ)·(γ ⊙ u); under RMSNorm, which does not centre, (c/rms)·(γ ⊙ u).
    /// </summary>
    public static Func<Tensor, double> DirectEffect(Gpt model, Tensor finalResidual, Tensor unembedding)
    {
        var effects = DirectEffects(model, finalResidual, unembedding);
        return component => effects(component.reshape(1, -1))[0];
    }

    /// <summary>
    /// <see cref="DirectEffect"/> of a stack of components [n, d_model] at once: one product and one read back, where one
    /// component at a time costs a handful of small tensor operations each (the per-answer mechanism record runs this on
    /// every answer read with peers).
    /// </summary>
    public static Func<Tensor, double[]> DirectEffects(Gpt model, Tensor finalResidual, Tensor unembedding)
    {
        using var epsilon = model.Config.LayerNormEps.ToScalar();
        bool centred = !model.Config.RmsNorm;
        Tensor Centre(Tensor x) => centred ? x - x.mean([-1], keepdim: true) : x;
        var sigma = Centre(finalResidual).pow(Scalars.Two).mean().add(epsilon, Scalars.One).sqrt();
        var direction = model.FinalNorm.Weight * unembedding / sigma;
        return components => Centre(components).matmul(direction).to(ScalarType.Float64).cpu().data<double>().ToArray();
    }

    public static Result Run(Gpt model, FactPrompt prompt) =>
        Decompose(model, prompt.Tokens, prompt.LastPosition, prompt.TargetToken, null);

    /// <summary>The activations a decomposition reads, for a forward that caches them and more (<see cref="Decompose(Gpt, Tensor, ActivationCache, int, int, int?, int)"/>).</summary>
    public static bool Reads(string hook, int layers) =>
        hook is "hook_embed" or "hook_pos_embed" || hook.EndsWith("attn.hook_result") || hook.EndsWith("hook_mlp_out") || hook == $"blocks.{layers - 1}.hook_resid_post";

    /// <summary>
    /// The direct contributions at <paramref name="position"/> along W_U[<paramref name="target"/>], or along
    /// W_U[target] − W_U[<paramref name="against"/>] when given (a logit difference; <see cref="Result.Logit"/> is then
    /// the difference of the two logits).
    /// </summary>
    public static Result Decompose(Gpt model, int[] tokens, int position, int target, int? against)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (logits, cache) = model.RunWithCache(LogitLens.Tokens(model, tokens), n => Reads(n, model.Config.NLayers));
        using (cache) return Decompose(model, logits, cache, position, target, against);
    }

    /// <summary>The decomposition of <paramref name="row"/> of a forward already run, whose cache holds at least what <see cref="Reads"/> names.</summary>
    public static Result Decompose(Gpt model, Tensor logits, ActivationCache cache, int position, int target, int? against, int row = 0)
    {
        int layers = model.Config.NLayers;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var direction = against is { } other ? model.Unembedding[target] - model.Unembedding[other] : model.Unembedding[target];
        var effects = DirectEffects(model, cache[$"blocks.{layers - 1}.hook_resid_post"][row, position], direction);

        var names = new List<(string Component, int? Layer, int? Head)>();
        var rows = new List<Tensor>();
        void Add(string component, int? layer, int? head, Tensor output)
        {
            names.Add((component, layer, head));
            rows.Add(output.reshape(1, -1));
        }
        Add("embed", null, null, cache["hook_embed"][row, position]);
        if (cache.Contains("hook_pos_embed")) // learned positions only; rotary ones write nothing to the residual
            Add("pos_embed", null, null, cache["hook_pos_embed"][row, position]);
        for (int l = 0; l < layers; l++)
        {
            var heads = cache[$"blocks.{l}.attn.hook_result"][row, position];
            for (int h = 0; h < model.Config.NHeads; h++)
                Add($"L{l}H{h}", l, h, heads[h]);
            if (model.Blocks[l].Attn.OutputProjection.bias is { } attnBias)
                Add($"L{l}.attn_bias", l, null, attnBias);
            Add($"L{l}.mlp", l, null, cache[$"blocks.{l}.hook_mlp_out"][row, position]);
        }
        var contributions = effects(cat(rows, 0));
        var result = names.Select((n, i) => new LogitContribution(n.Component, n.Layer, n.Head, contributions[i])).ToList();
        double bias = model.FinalNorm.Bias is { } beta ? (beta * direction).sum().item<float>() : 0;
        var final = logits[row, position];
        double logit = against is { } o ? (final[target] - final[o]).item<float>() : final[target].item<float>();
        return new Result(result, bias, logit);
    }
}
