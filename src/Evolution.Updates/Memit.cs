using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates;

/// <summary>Where an edit's key is read and its value written.</summary>
public enum EditPosition
{
    /// <summary>The subject's last token (ROME, MEMIT).</summary>
    SubjectLast,
    /// <summary>The prompt's last token, the one that predicts the object.</summary>
    PromptLast,
}

/// <summary>
/// MEMIT's hyper-parameters. Measured on the previous default agent (4 layers, d_model 128, d_mlp 512; 4 context lines per fact) with
/// <c>compare-updates --changes 100 --methods memit</c> (the 46 epoch-1 changes topped up to 100, one batch),
/// as reliability / generalisation / locality: the paper's set-up (subject's last token, layers 0–1,
/// λ 1000) gave 0.00 / – / 0.98; subject's last token at layer 0 gave 0.09 / 0.07 / 0.10 at λ 1, 0.40 / 0.26 / 0.42
/// at λ 30, 0.39 / 0.27 / 0.75 at λ 300 (with one δ per subject). The defaults give 0.92 / 0.57 / 0.80 (portability 0.10);
/// with 46 changes (the real ones only) 0.87 / 0.57 / 0.90, with 10 1.00 / 0.60 / 0.88, with 1 1.00 / 1.00 / 1.00.
/// The defaults with <see cref="EditPosition.SubjectLast"/> instead: 0.41 / 0.28 / 0.39 at layer 0, 0.00 / 0.01 / 1.00 at layer 3.
/// On the 4,000-step default agent (8 context lines per fact) the defaults gave 0.91 / 0.69 / 0.80 over 100, 0.94 / 0.77 / 0.92 over 50;
/// on the current one (fresh passes, 1,000 steps of 32) 0.93 / 0.79 / 0.70 over 100, 0.94 / 0.82 / 0.87 over 50.
/// </summary>
/// <param name="Layers">The MLP range R; the target residual is set after its last layer. Default: the last layer only.
/// At the prompt's last token (λ 30, weight decay 0.5, 20 steps), layer 3 alone gave 0.88 / 0.52 / 0.82, layers 2–3
/// 0.88 / 0.43 / 0.77, layers 0–3 0.84 / 0.25 / 0.76: the keys of the last layer are the most distinct
/// (largest |cos| between two of the 100 edits' keys under C⁻¹: 0.57 at layer 3, 0.93 at layer 0).</param>
/// <param name="Position">Where keys are read and δ written. Default <see cref="EditPosition.PromptLast"/>: causal
/// tracing on the previous default agent finds the fact looked up at the last token (MLP effect 0.25 at layer 0) and hardly at
/// the subject's last token (0.05 at layer 0, ≤ 0.005 after), and at the subject's last token 67 of the 100 requests
/// share that token with another request (company names end in "Systems", "Group", …; one person has three edits), so
/// their layer-0 keys nearly coincide (|cos| under C⁻¹ up to 0.996) and a batch with different targets cannot be
/// written there; the δ needed there is also larger than the residual itself (median ‖δ‖/‖h‖ 1.42 against 0.54).</param>
/// <param name="ContextPrefixes">Random prefixes keys and targets are averaged over (MEMIT: as ROME).</param>
/// <param name="Steps">Adam steps for each δ (MEMIT: 20–25). 30: with weight decay 0.25, 0.92 / 0.57 / 0.80 against
/// 0.88 / 0.52 / 0.82 with 20 steps and decay 0.5.</param>
/// <param name="LearningRate">Adam step size for δ (MEMIT: 0.5).</param>
/// <param name="KlFactor">Essence-drift KL on "{subject} is a" (MEMIT: 0.0625). δ is put at that prompt's subject;
/// with <see cref="EditPosition.PromptLast"/> at the last layer nothing later reads it, so the term is inert there.</param>
/// <param name="WeightDecay">Penalty on ‖δ‖²/‖o‖², o the MLP output (MEMIT GPT-J: 0.5). 0.25: 0.1 (ROME's agent value)
/// with 30 steps gave 0.91 / 0.77 / 0.42, a δ twice as large that 100 edits cannot write without disturbing neighbours.</param>
/// <param name="ClampNormFactor">‖δ‖ ≤ factor·‖o‖ (ROME: 4).</param>
/// <param name="CovarianceWeight">λ in (λC + KKᵀ)⁻¹ (MEMIT: 15000–20000 against 10,000 edits, with C from 100k Wikipedia
/// samples). C is the per-token mean second moment of the agent's own corpus, so λC weighs it like λ typical tokens
/// against the batch's keys; a single edit keeps kᵀC⁻¹k / (λ + kᵀC⁻¹k) of its residual (kᵀC⁻¹k: median 660 at layer 3,
/// so 96% at λ 30). Default 30: at layer 3, λ 10 gave 0.88 / 0.54 / 0.80 (weight decay 0.5), λ 30 0.92 / 0.57 / 0.80,
/// λ 60 0.90 / 0.53 / 0.83, λ 300 (decay 0.1) 0.80 / 0.65 / 0.67.</param>
public sealed record MemitHyperParams(IReadOnlyList<int>? Layers = null, EditPosition Position = EditPosition.PromptLast, int ContextPrefixes = 10,
    int Steps = 30, double LearningRate = 0.5, double KlFactor = 0.0625, double WeightDecay = 0.25, double ClampNormFactor = 4, double CovarianceWeight = 30)
{
    public IReadOnlyList<int> LayersFor(GptConfig config) => Layers ?? [config.NLayers - 1];
}

/// <summary>
/// MEMIT (Meng et al. 2023, "Mass-Editing Memory in a Transformer", Alg. 1): many edits at once,
/// spread over a range of MLP layers. For each edit a target residual z = h^L + δ after the last
/// layer L of the range is found as in ROME; then, layer by layer, the remaining residual (z − h^L
/// recomputed with the weights updated so far, at the bare prompt) is divided by the number of layers
/// left and written by ΔW_l = R_l K_lᵀ (λC_l + K_l K_lᵀ)⁻¹ (eq. 14), with K_l the edits' keys at layer l
/// averaged over random prefixes. Requests whose keys are the same (the same subject with
/// <see cref="EditPosition.SubjectLast"/>, the same prompt with <see cref="EditPosition.PromptLast"/>)
/// share one δ optimised for all of them: one key holds one value, and the least-squares solve would
/// otherwise average their conflicting targets. Keys and δ are read and written at
/// <see cref="MemitHyperParams.Position"/>.
/// </summary>
public sealed class MemitEditor(MemitHyperParams hyperParams, KeyStatistics statistics, IReadOnlyList<string> prefixSource) : IKnowledgeEditor
{
    public string Name => "memit";

    public WeightDelta ComputeDelta(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests) =>
        Write(model, tokenizer, requests, (layer, keys, residuals) =>
            BatchUpdate(keys, residuals, statistics.SecondMoment(model, tokenizer, layer), hyperParams.CovarianceWeight));

    /// <summary>
    /// MEMIT's algorithm with the per-layer solve left to <paramref name="solve"/>: (layer, keys K [d_mlp, n], residuals
    /// R [d_model, n], both float64) → ΔW [d_model, d_mlp]. Targets, the residual's spread over the layers and the
    /// weights' restoration are MEMIT's; AlphaEdit (<see cref="AlphaEditEditor"/>) differs only in the solve.
    /// The tensors passed to <paramref name="solve"/> belong to a dispose scope that ends with the layer.
    /// With <paramref name="forms"/> (a request's prompts that ask its fact, the edit prompt among them), each request's key and
    /// δ are taken over all of them rather than over the edit prompt alone: its contexts are every form, bare and after its
    /// share of the random prefixes, so k is the mean key of the fact's ways of being asked and δ makes each of them continue
    /// with the new object. The residual is still read at the bare edit prompt.
    /// </summary>
    internal WeightDelta Write(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests, Func<int, Tensor, Tensor, Tensor> solve,
        Func<EditRequest, IReadOnlyList<string>>? forms = null)
    {
        var layers = hyperParams.LayersFor(model.Config).Order().ToList();
        int last = layers[^1];
        var names = layers.ToDictionary(l => l, l => $"blocks.{l}.mlp.c_proj.weight");
        var originals = layers.ToDictionary(l => names[l], l => model.Blocks[l].Mlp.Out.weight!.detach().clone());
        // ROME's machinery finds each edit's target; with PromptLast its "subject" position is the prompt's last token.
        var rome = new RomeEditor(new RomeHyperParams(last, hyperParams.ContextPrefixes, hyperParams.Steps, hyperParams.LearningRate,
            hyperParams.KlFactor, hyperParams.WeightDecay, hyperParams.ClampNormFactor, Position: hyperParams.Position, Essence: EssenceSource.IsA), statistics, prefixSource);

        bool wasTraining = model.training;
        model.eval();
        try
        {
            var contexts = requests.Select(r => forms is null ? rome.Contexts(tokenizer, r) : ContextsOverForms(rome, tokenizer, r, forms(r))).ToList();
            if (contexts.FirstOrDefault(c => c.Count == 0) is not null) throw new ArgumentException("an edit prompt cannot be tokenised");
            // z_i = h^L_i + δ: δ added to the MLP output of layer L is δ added to h^L; requests with one key share one δ.
            var deltas = new Tensor[requests.Count];
            foreach (var group in Enumerable.Range(0, requests.Count).GroupBy(i => hyperParams.Position == EditPosition.SubjectLast ? requests[i].Subject : requests[i].Prompt))
            {
                var (_, shared) = rome.OptimiseDelta(model, tokenizer, group.Select(i => (requests[i], contexts[i])).ToList(), last);
                foreach (var i in group) deltas[i] = shared;
            }
            var targets = requests.Select((r, i) => ResidualAt(model, contexts[i][0], last).add(deltas[i], Scalars.One)).ToList();

            for (int index = 0; index < layers.Count; index++)
            {
                int layer = layers[index];
                using var scope = NewDisposeScope();
                var keys = stack(contexts.Select(c => RomeEditor.AverageKey(model, c, layer)).ToList(), 1).to(ScalarType.Float64).cpu();      // [d_mlp, n]
                var residuals = stack(targets.Select((z, i) => z - ResidualAt(model, contexts[i][0], last)).ToList(), 1).to(ScalarType.Float64).cpu(); // [d_model, n]
                using var share = (layers.Count - index).ToScalar();
                residuals = residuals.div(share);
                var update = solve(layer, keys, residuals);
                using (no_grad()) model.Blocks[layer].Mlp.Out.weight!.add_(update.to(ScalarType.Float32).to(model.Unembedding.device), Scalars.One);
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

    /// <summary>
    /// The contexts of every form of a request (the edit prompt first, so the first context is the bare edit prompt), each form
    /// bare and after an equal share of the prefixes; other forms that do not name the subject are left out.
    /// </summary>
    IReadOnlyList<RomeEditor.Located> ContextsOverForms(RomeEditor rome, ITextTokenizer tokenizer, EditRequest request, IReadOnlyList<string> forms)
    {
        var prompts = forms.Where(f => f.Contains(request.Subject, StringComparison.Ordinal)).Prepend(request.Prompt).Distinct().ToList();
        int perForm = 1 + Math.Max(1, hyperParams.ContextPrefixes / prompts.Count);
        return prompts.SelectMany(f => rome.Contexts(tokenizer, request with { Prompt = f }).Take(perForm)).ToList();
    }

    /// <summary>MEMIT eq. 14: ΔW = R Kᵀ (λC + K Kᵀ)⁻¹ for keys K [d_mlp, n] and residuals R [d_model, n], in double precision.</summary>
    public static Tensor BatchUpdate(Tensor keys, Tensor residuals, Tensor covariance, double lambda)
    {
        var k = keys.to(ScalarType.Float64).cpu();
        using var lambdaScalar = lambda.ToScalar();
        var a = covariance.to(ScalarType.Float64).cpu().mul(lambdaScalar).add(k.matmul(k.t()), Scalars.One);
        return linalg.solve(a, k.matmul(residuals.to(ScalarType.Float64).cpu().t())).t(); // A is symmetric
    }

    static Tensor ResidualAt(Gpt model, RomeEditor.Located at, int layer) => Read(model, at, $"blocks.{layer}.hook_resid_post");

    static Tensor Read(Gpt model, RomeEditor.Located at, string hook)
    {
        using var _ = no_grad();
        var (_, cache) = model.RunWithCache(tensor(at.Tokens.Select(t => (long)t).ToArray(), [1, at.Tokens.Length], device: model.Unembedding.device), n => n == hook);
        using (cache) return cache[hook][0, at.KeyIndex].clone();
    }
}
