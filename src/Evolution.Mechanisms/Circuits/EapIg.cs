using Evolution.Core;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Circuits;

/// <summary>
/// Edge attribution patching with integrated gradients, EAP-IG (Hanna et al. 2024, "Have Faith in
/// Faithfulness", eq. 2): the effect on the metric L of corrupting edge u→v is estimated as
///   score(u→v) = (a_clean(u) − a_corrupt(u)) · (1/m) Σ_{k=1..m} ∂L(z' + (k/m)(z − z'))/∂input_v,
/// where z, z' are the clean and corrupted input embeddings and the dot product runs over positions
/// and d_model. Unlike plain EAP (Syed et al. 2023), the gradient is averaged along the path from the
/// corrupted to the clean input, which is what keeps it faithful when the metric saturates. The
/// gradients are taken with respect to zero "probe" tensors added at every downstream input
/// (split q/k/v inputs, MLP inputs, final residual), so one backward gives all of them.
/// Cost: one clean and one corrupted forward plus m forward+backward passes, batched as facts × m rows.
/// </summary>
public static class EapIg
{
    /// <summary>
    /// Edge scores per example, [example][edge] in <see cref="ComputationGraph.Edges"/> order; positive = the edge carries metric.
    /// The one batching loop of every circuit search: <see cref="CircuitOptions.FactsPerBatch"/> examples per batch, the batch
    /// starting at example i seeded <see cref="CircuitOptions.Seed"/> + i (Gaussian corruption), so an example's scores do not
    /// depend on who calls; <paramref name="progress"/> hears the examples done after each batch.
    /// </summary>
    public static float[][] Scores(Gpt model, IReadOnlyList<CircuitExample> examples, CircuitOptions? options = null, Action<int>? progress = null)
    {
        options ??= new CircuitOptions();
        var result = new List<float[]>();
        for (int start = 0; start < examples.Count; start += options.FactsPerBatch)
        {
            using var scope = NewDisposeScope();
            using var batch = CircuitBatch.Build(model, examples.Skip(start).Take(options.FactsPerBatch).ToList(), options, options.Seed + start);
            result.AddRange(Scores(model, batch, options.IgSteps));
            progress?.Invoke(result.Count);
        }
        return [.. result];
    }

    internal static float[][] Scores(Gpt model, CircuitBatch batch, int steps)
    {
        var g = ComputationGraph.For(model);
        var clean = EdgePatching.UpstreamOutputs(model, batch.Tokens);
        var corrupted = EdgePatching.UpstreamOutputs(model, batch.Tokens, batch.Corruption(ones(batch.Rows, device: batch.Tokens.device)));
        var gradients = MeanGradients(model, batch, steps); // [B, T, downstream, d]
        var scores = einsum("btud,btvd->buv", clean - corrupted, gradients) * g.ValidMask().to(gradients.device);
        return Enumerable.Range(0, (int)batch.Rows).Select(b => g.PerEdge(scores[b])).ToArray();
    }

    /// <summary>(1/m) Σ_k ∂L/∂input_v at inputs (k/m) of the way from corrupted to clean, [B, T, downstream, d].</summary>
    static Tensor MeanGradients(Gpt model, CircuitBatch batch, int steps)
    {
        var g = ComputationGraph.For(model);
        long rows = batch.Rows;
        using var _ = enable_grad();
        // Row b·m + (k−1) holds example b at step k; its corruption amount is 1 − k/m (k = m is the clean input).
        using var stop = (steps + 1).ToScalar();
        using var stepCount = steps.ToScalar();
        var amount = arange(Scalars.One, stop, Scalars.One, dtype: ScalarType.Float32).div(stepCount).negative().add(Scalars.One, Scalars.One).repeat(rows).to(batch.Tokens.device);
        var probes = new Dictionary<string, Tensor>();
        var hooks = new List<Hook> { batch.Corruption(amount, steps) };
        var names = Enumerable.Range(0, g.Layers).SelectMany(l => Gpt.SplitInputHookNames(l)).Append($"blocks.{g.Layers - 1}.hook_resid_post");
        foreach (var name in names)
            hooks.Add(Hook.On(name, (a, n) =>
            {
                var probe = zeros_like(a).requires_grad_(true);
                probes[n] = probe;
                return a.add(probe, Scalars.One);
            }));
        var tokens = batch.Tokens.repeat_interleave(steps, 0);
        var metric = batch.Metric(model.Run(tokens, new HookContext(hooks)), steps).sum();
        var ordered = names.ToList();
        var grads = torch.autograd.grad([metric], ordered.Select(n => probes[n]).ToList());
        Tensor Mean(Tensor grad) => grad.detach().view([rows, steps, .. grad.shape[1..]]).mean([1]);

        var parts = new List<Tensor>();
        for (int l = 0; l < g.Layers; l++)
        {
            for (int which = 0; which < 3; which++) parts.Add(Mean(grads[4 * l + which])); // [B, T, H, d]
            parts.Add(Mean(grads[4 * l + 3]).unsqueeze(2));
        }
        parts.Add(Mean(grads[^1]).unsqueeze(2));
        return cat(parts, 2);
    }
}
