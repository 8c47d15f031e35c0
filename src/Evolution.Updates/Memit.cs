using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates;

/// <param name="Layers">The critical MLP range R; the target residual is set after its last layer.</param>
/// <param name="CovarianceWeight">λ in (λC + KKᵀ)⁻¹ (MEMIT's mom2_update_weight; the paper uses 15000 with Wikipedia-scale statistics, relative to its sample count).</param>
public sealed record MemitHyperParams(IReadOnlyList<int>? Layers = null, int ContextPrefixes = 10, int Steps = 20, double LearningRate = 0.5,
    double KlFactor = 0.0625, double WeightDecay = 0.5, double ClampNormFactor = 4, double CovarianceWeight = 1.0)
{
    public IReadOnlyList<int> LayersFor(GptConfig config) => Layers ?? [0, 1];
}

/// <summary>
/// MEMIT (Meng et al. 2023, "Mass-Editing Memory in a Transformer", Alg. 1): many edits at once,
/// spread over a range of MLP layers. For each edit a target residual z = h^L + δ at the subject's
/// last token after the last layer L of the range is found as in ROME; then, layer by layer, the
/// remaining residual (z − h^L with the weights updated so far) is divided by the number of layers
/// left and written by ΔW_l = R_l K_lᵀ (λC_l + K_l K_lᵀ)⁻¹ (eq. 14), with K_l the edits' keys at layer l.
/// </summary>
public sealed class MemitEditor(MemitHyperParams hyperParams, KeyStatistics statistics, IReadOnlyList<string> prefixSource) : IKnowledgeEditor
{
    public string Name => "memit";

    public WeightDelta ComputeDelta(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests)
    {
        var layers = hyperParams.LayersFor(model.Config).Order().ToList();
        int last = layers[^1];
        var names = layers.ToDictionary(l => l, l => $"blocks.{l}.mlp.c_proj.weight");
        var originals = layers.ToDictionary(l => names[l], l => model.Blocks[l].Mlp.Out.weight!.detach().clone());
        // ROME's machinery finds each edit's target: δ added to the MLP output of layer L is δ added to h^L.
        var rome = new RomeEditor(new RomeHyperParams(last, hyperParams.ContextPrefixes, hyperParams.Steps, hyperParams.LearningRate,
            hyperParams.KlFactor, hyperParams.WeightDecay, hyperParams.ClampNormFactor), statistics, prefixSource);

        bool wasTraining = model.training;
        model.eval();
        try
        {
            var contexts = requests.Select(r => rome.Prefixes(r).Select(p => RomeEditor.TryLocate(tokenizer, p + r.Prompt, r.Subject)).OfType<RomeEditor.Located>().ToList()).ToList();
            // z_i = h^L_i + δ_i: the MLP output target minus the MLP output gives δ, which is the same in the residual stream.
            var targets = requests.Select((r, i) => ResidualAt(model, contexts[i][0], last) + (rome.OptimiseValue(model, tokenizer, r, contexts[i], last) - MlpOutputAt(model, contexts[i][0], last))).ToList();

            for (int index = 0; index < layers.Count; index++)
            {
                int layer = layers[index];
                using var scope = NewDisposeScope();
                var keys = stack(contexts.Select(c => RomeEditor.AverageKey(model, c, layer)).ToList(), 1).to(ScalarType.Float64).cpu();      // [d_mlp, n]
                var residuals = stack(targets.Select((z, i) => z - ResidualAt(model, contexts[i][0], last)).ToList(), 1).to(ScalarType.Float64).cpu(); // [d_model, n]
                residuals /= layers.Count - index;
                var update = BatchUpdate(keys, residuals, statistics.SecondMoment(model, tokenizer, layer), hyperParams.CovarianceWeight);
                using (no_grad()) model.Blocks[layer].Mlp.Out.weight!.add_(update.to(ScalarType.Float32).to(model.Unembedding.device));
            }
            using var _ = no_grad();
            var delta = layers.ToDictionary(l => names[l], l => (model.Blocks[l].Mlp.Out.weight!.detach() - originals[names[l]]).clone());
            foreach (var l in layers) model.Blocks[l].Mlp.Out.weight!.copy_(originals[names[l]]);
            return new WeightDelta(delta, originals);
        }
        catch
        {
            using var _ = no_grad();
            foreach (var l in layers) model.Blocks[l].Mlp.Out.weight!.copy_(originals[names[l]]);
            throw;
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>MEMIT eq. 14: ΔW = R Kᵀ (λC + K Kᵀ)⁻¹ for keys K [d_mlp, n] and residuals R [d_model, n], in double precision.</summary>
    public static Tensor BatchUpdate(Tensor keys, Tensor residuals, Tensor covariance, double lambda)
    {
        var k = keys.to(ScalarType.Float64).cpu();
        var a = lambda * covariance.to(ScalarType.Float64).cpu() + k.matmul(k.t());
        return linalg.solve(a, k.matmul(residuals.to(ScalarType.Float64).cpu().t())).t(); // A is symmetric
    }

    static Tensor ResidualAt(Gpt model, RomeEditor.Located at, int layer) => Read(model, at, $"blocks.{layer}.hook_resid_post");

    static Tensor MlpOutputAt(Gpt model, RomeEditor.Located at, int layer) => Read(model, at, $"blocks.{layer}.hook_mlp_out");

    static Tensor Read(Gpt model, RomeEditor.Located at, string hook)
    {
        using var _ = no_grad();
        var (_, cache) = model.RunWithCache(tensor(at.Tokens.Select(t => (long)t).ToArray(), [1, at.Tokens.Length], device: model.Unembedding.device), n => n == hook);
        using (cache) return cache[hook][0, at.LastSubject].clone();
    }
}
