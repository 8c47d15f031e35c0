using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Circuits;

/// <summary>
/// Edge-level activation patching on a <see cref="ComputationGraph"/> (as in Hanna et al.'s EAP-IG
/// code and ACDC, Conmy et al. 2023). Each downstream input is the residual stream, i.e. the sum of
/// the outputs of every upstream node before it; ablating edge u→v replaces u's term in v's input
/// only: input_v ← input_v − Σ_{u: (u→v) ablated} (a(u) − a_ref(u)), where a(u) is u's output in
/// this very run (so circuit nodes see the effects of ablations upstream of them) and a_ref(u) its
/// output in the corrupted run (or its mean, for mean ablation).
/// </summary>
public static class EdgePatching
{
    static readonly TensorIndex All = TensorIndex.Colon;

    /// <summary>Hook names of every upstream node output, in upstream-index order (heads of a layer share one hook).</summary>
    static string UpstreamHook(ComputationGraph g, int u) => u == 0 ? "blocks.0.hook_resid_pre"
        : (u - 1) % (g.Heads + 1) == g.Heads ? $"blocks.{(u - 1) / (g.Heads + 1)}.hook_mlp_out" : $"blocks.{(u - 1) / (g.Heads + 1)}.attn.hook_result";

    static IEnumerable<string> UpstreamHooks(ComputationGraph g) => Enumerable.Range(0, g.UpstreamCount).Select(u => UpstreamHook(g, u)).Distinct();

    /// <summary>Every upstream node's output, stacked as [B, T, upstream, d_model].</summary>
    public static Tensor UpstreamOutputs(Gpt model, Tensor tokens, params Hook[] hooks)
    {
        var g = ComputationGraph.For(model);
        var names = UpstreamHooks(g).ToHashSet();
        var context = new HookContext(hooks, cacheFilter: names.Contains);
        using var _ = no_grad();
        model.Run(tokens, context);
        using var cache = context.Cache;
        return Stack(g, name => cache[name]);
    }

    static Tensor Stack(ComputationGraph g, Func<string, Tensor> output)
    {
        var parts = new List<Tensor> { output("blocks.0.hook_resid_pre").unsqueeze(2) };
        for (int l = 0; l < g.Layers; l++)
        {
            parts.Add(output($"blocks.{l}.attn.hook_result"));
            parts.Add(output($"blocks.{l}.hook_mlp_out").unsqueeze(2));
        }
        return cat(parts, 2);
    }

    /// <summary>
    /// Logits of the model with the edges where <paramref name="ablate"/> [B, upstream, downstream] is 1
    /// carrying <paramref name="reference"/> [B or 1, T, upstream, d_model] instead of their clean value.
    /// </summary>
    public static Tensor Run(Gpt model, Tensor tokens, Tensor ablate, Tensor reference)
    {
        var g = ComputationGraph.For(model);
        var differences = new List<Tensor>(); // a(u) − a_ref(u) for the upstream nodes computed so far, each [B, T, d]
        var hooks = new List<Hook>
        {
            Hook.Read("blocks.0.hook_resid_pre", (a, _) => differences.Add(a - reference[All, All, 0])),
        };
        for (int l = 0; l < g.Layers; l++)
        {
            int layer = l;
            hooks.Add(Hook.Read($"blocks.{l}.attn.hook_result", (a, _) =>
            {
                for (int h = 0; h < g.Heads; h++) differences.Add(a[All, All, h] - reference[All, All, g.HeadNode(layer, h)]);
            }));
            hooks.Add(Hook.Read($"blocks.{l}.hook_mlp_out", (a, _) => differences.Add(a - reference[All, All, g.MlpNode(layer)])));
            // Each head's q, k, v input: subtract the ablated edges' differences, [B, T, H, d].
            for (int which = 0; which < 3; which++)
            {
                var inputs = Enumerable.Range(0, g.Heads).Select(h => (long)g.QueryInput(layer, h, which)).ToArray();
                hooks.Add(Hook.On($"blocks.{l}.hook_{"qkv"[which]}_input", (a, _) => a - Removed(inputs)));
            }
            hooks.Add(Hook.On($"blocks.{l}.hook_mlp_in", (a, _) => a - Removed([g.MlpInput(layer)]).squeeze(2)));
        }
        hooks.Add(Hook.On($"blocks.{g.Layers - 1}.hook_resid_post", (a, _) => a - Removed([g.LogitsInput]).squeeze(2)));
        return model.RunWithHooks(tokens, [.. hooks]);

        // Σ_u ablate[b, u, v] (a(u) − a_ref(u)) over the upstream nodes computed so far, as [B, T, |inputs|, d].
        Tensor Removed(long[] inputs)
        {
            var stacked = stack(differences, 2);
            var mask = ablate[All, TensorIndex.Slice(0, differences.Count)].index_select(2, tensor(inputs, device: ablate.device));
            return einsum("btud,buv->btvd", stacked, mask.to(stacked.dtype));
        }
    }
}
