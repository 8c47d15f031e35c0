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
        using var epsilon = model.Config.LayerNormEps.ToScalar();
        bool centred = !model.Config.RmsNorm;
        Tensor Centre(Tensor x) => centred ? x - x.mean() : x;
        var sigma = Centre(finalResidual).pow(Scalars.Two).mean().add(epsilon, Scalars.One).sqrt();
        var direction = model.FinalNorm.Weight * unembedding;
        return component => ((Centre(component) / sigma) * direction).sum().item<float>();
    }

    public static Result Run(Gpt model, FactPrompt prompt) =>
        Decompose(model, prompt.Tokens, prompt.LastPosition, prompt.TargetToken, null);

    /// <summary>
    /// The direct contributions at <paramref name="position"/> along W_U[<paramref name="target"/>], or along
    /// W_U[target] − W_U[<paramref name="against"/>] when given (a logit difference; <see cref="Result.Logit"/> is then
    /// the difference of the two logits).
    /// </summary>
    public static Result Decompose(Gpt model, int[] tokens, int position, int target, int? against)
    {
        int layers = model.Config.NLayers;
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (logits, cache) = model.RunWithCache(LogitLens.Tokens(model, tokens),
            n => n is "hook_embed" or "hook_pos_embed" || n.EndsWith("attn.hook_result") || n.EndsWith("hook_mlp_out") || n == $"blocks.{layers - 1}.hook_resid_post");
        using (cache)
        {
            var direction = against is { } other ? model.Unembedding[target] - model.Unembedding[other] : model.Unembedding[target];
            var Contribution = DirectEffect(model, cache[$"blocks.{layers - 1}.hook_resid_post"][0, position], direction);

            var result = new List<LogitContribution> { new("embed", null, null, Contribution(cache["hook_embed"][0, position])) };
            if (cache.Contains("hook_pos_embed")) // learned positions only; rotary ones write nothing to the residual
                result.Add(new("pos_embed", null, null, Contribution(cache["hook_pos_embed"][0, position])));
            for (int l = 0; l < layers; l++)
            {
                var heads = cache[$"blocks.{l}.attn.hook_result"][0, position];
                for (int h = 0; h < model.Config.NHeads; h++)
                    result.Add(new($"L{l}H{h}", l, h, Contribution(heads[h])));
                if (model.Blocks[l].Attn.OutputProjection.bias is { } attnBias)
                    result.Add(new($"L{l}.attn_bias", l, null, Contribution(attnBias)));
                result.Add(new($"L{l}.mlp", l, null, Contribution(cache[$"blocks.{l}.hook_mlp_out"][0, position])));
            }
            double bias = model.FinalNorm.Bias is { } beta ? (beta * direction).sum().item<float>() : 0;
            var final = logits[0, position];
            double logit = against is { } o ? (final[target] - final[o]).item<float>() : final[target].item<float>();
            return new Result(result, bias, logit);
        }
    }
}
