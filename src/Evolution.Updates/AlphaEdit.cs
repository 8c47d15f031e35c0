using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates;

/// <summary>
/// AlphaEdit's hyper-parameters. How targets are found (<paramref name="Layers"/> to <paramref name="ClampNormFactor"/>) is
/// MEMIT's, with MEMIT's defaults (<see cref="MemitHyperParams"/>); AlphaEdit replaces MEMIT's covariance prior λC by the
/// null-space projection, so MEMIT's λ has no counterpart here.
/// Measured on the small agent (agents/small.yaml on scenarios/worlds/default.yaml: 2 layers, d_mlp 256) with
/// <c>compare-updates --world scenarios/worlds/default.yaml --agent agents/small.yaml --changes 50 --methods alphaedit --no-curves</c>
/// (one batch of 50), reliability / generalisation / locality / portability: the defaults 0.48 / 0.17 / 0.53 / 0.05, MEMIT
/// (<c>--methods memit</c>, same agent and changes) 0.70 / 0.56 / 0.24 / 0.08. The null space there has 95 of 256 dimensions
/// (layer 1). With α 0.1 (<c>edit --model &lt;that checkpoint&gt; --method alphaedit --changes 50 --ridge 0.1</c>, bare weights):
/// 0.64 / 0.37 / 0.23 / 0.05, MEMIT's locality again. On the default agent (agents/default.yaml, seed 1; d_mlp 512, null space 351
/// dimensions at layer 3), <c>compare-updates --model &lt;it&gt; --changes 50 --methods memit,alphaedit --no-curves</c> gives
/// 0.96 / 0.81 / 0.88 / 0.00 against MEMIT's 0.94 / 0.82 / 0.87 / 0.03 (<c>edit --method alphaedit --changes 50</c>: the same).
/// On these agents the edit prompts are training sentences, so their keys lie mostly in the range the projection removes
/// (on the tiny test agent, layer 1, 14% of an edit key's energy is left at threshold 1e-2): AlphaEdit writes through
/// that remainder, which doubles locality here but leaves the edits weaker. On the tiny agent (4 edits, layer 1), at
/// threshold 1e-2 and α 1 the mean ‖ΔW k0‖ over corpus tokens was 0.86 × MEMIT's and 3 of 4 edits ranked first; at α 0.01
/// 1.93 × and 4 of 4; at threshold 3e-3 and α 1 0.47 × and 2 of 4.
/// </summary>
/// <param name="Layers">The MLP range R (MEMIT's; default the last layer).</param>
/// <param name="Position">Where keys are read and δ written (MEMIT's; default the prompt's last token).</param>
/// <param name="ContextPrefixes">Random prefixes keys and targets are averaged over (MEMIT's).</param>
/// <param name="Steps">Adam steps for each δ (MEMIT's).</param>
/// <param name="LearningRate">Adam step size for δ (MEMIT's).</param>
/// <param name="KlFactor">Essence-drift KL weight (MEMIT's).</param>
/// <param name="WeightDecay">Penalty on ‖δ‖²/‖o‖² (MEMIT's). On seed 3 of the default agent (<c>edit --changes 10 --preserve knowledge
/// --key-prompts fact</c>) 0.05 writes a first batch 0.25 leaves unwritten (reliability 0.8 against 0.4; α 0.1 does the same),
/// but lifelong the larger δ wears locality out: 0.53 / 0.48 / 0.16 after 200 changes, 0.61 / 0.57 / 0.32 with λ 30.</param>
/// <param name="ClampNormFactor">‖δ‖ ≤ factor·‖o‖ (MEMIT's).</param>
/// <param name="NullSpaceThreshold">P keeps the eigenvectors of K0K0ᵀ whose eigenvalue is below this share of the largest
/// (the paper: below 1e-2 absolute, on GPT-2 XL and GPT-J). Relative because the keys' scale is the model's: on the tiny
/// test agent (d_mlp 256) the eigenvalues span 1.4e-4 to 1 of the largest at layer 0 and 4e-4 to 1 at layer 1 (largest 0.98
/// and 2.26), so the null space has 185 and 145 dimensions at 1e-2, 133 and 74 at 3e-3, 75 and 15 at 1e-3, and is empty
/// at 1e-4. Default 1e-2: below it the edit keys keep too little of themselves in the null space to be written (see above).</param>
/// <param name="Ridge">α, the ridge in eq. 15 (the paper's: 1). A single edit writes ‖Pk‖² / (α + ‖Pk‖²) of its residual;
/// ‖Pk‖² was about 2 for the tiny agent's edit keys at layer 1, so α 1 writes about two thirds and α 0.01 nearly all,
/// at the cost of a larger change elsewhere (see above). It also sets how strictly earlier edits' keys are kept.</param>
/// <param name="Preserve">Whose keys K0 the projection leaves alone. Default <see cref="PreservedKeys.Corpus"/>, the paper's
/// (every token of a text sample). <see cref="PreservedKeys.Knowledge"/> keeps the keys the agent recalls its facts from,
/// less the facts being rewritten. Lifelong on the seed-1 default agent (trained at one thread;
/// <c>compare-updates --world scenarios/worlds/default.yaml --sequential 200 --batch 10 --methods alphaedit [--preserve knowledge]</c>),
/// reliability / generalisation / locality after 200 changes: corpus 0.85 / 0.66 / 0.37, knowledge 0.79 / 0.47 / 0.89
/// (relation and subject locality 0.90 / 0.88, against 0.36 / 0.39). Knowledge without leaving out the rewritten facts: 0.61 / 0.26 / 0.86 (their own keys are then
/// protected too). With knowledge, α 0.1: 0.81 / 0.51 / 0.62; threshold 1e-3 and α 0.01: 0.35 / 0.23 / 0.30; threshold 3e-3
/// and α 0.1: 0.67 / 0.37 / 0.60. Writing each change also at the fact's other training prompts (same δ): 0.73 / 0.57 / 0.58,
/// 1.00 / 1.00 / 1.00 after 10 but worn out by 200 (six keys per change fill the null space). Null space 416 of 512
/// dimensions at layer 3 with knowledge at 1e-2, 222 at 1e-3.</param>
/// <param name="Keys">Which prompts each change's key and δ are taken over. Default <see cref="KeyPrompts.Edit"/>, the paper's.
/// <see cref="KeyPrompts.Fact"/> takes them over every prompt the agent was taught the fact with. The same lifelong run with
/// <c>--preserve knowledge [--key-prompts fact]</c>, mean of training seeds 1–3 (agents trained at one thread), after 200 changes:
/// edit prompt 0.68 / 0.44 / 0.90, the fact's prompts 0.71 / 0.61 / 0.87 (generalisation +0.17 to +0.18 on every seed; seed 1
/// alone 0.79 / 0.47 / 0.89 and 0.82 / 0.65 / 0.87). Seeds 2 and 3 write their first batch of 10 badly with either key
/// (reliability 0.20–0.50): on seed 2, <c>edit --changes 10 --preserve knowledge --key-prompts fact</c> gives reliability 0.2 at
/// α 1, 0.5 at α 0.1, 0.6 at α 0.01 (edit prompt, α 1: 0.3). Lifelong with the fact's prompts at α 0.3: 0.86 / 0.76 / 0.92
/// after 100 but 0.78 / 0.62 / 0.63 after 200; at α 0.1 0.86 / 0.78 / 0.88 and 0.70 / 0.56 / 0.45 (the null space fills); at α 1
/// and threshold 2e-2 0.85 / 0.77 / 0.92 and 0.79 / 0.66 / 0.74. Giving the edit prompt all its prefixes and the other
/// prompts a share (about 40% of the contexts on the edit prompt) changed nothing that mattered (seed 2, 0.66 / 0.58 / 0.85
/// against 0.64 / 0.63 / 0.83).</param>
/// <param name="CovarianceWeight">λ on what the null space leaves of the preserved keys: the solve adds λ P C0 (C0 = K0K0ᵀ per key,
/// the preserved keys' mean second moment) to P(KpKpᵀ + K1K1ᵀ), which is MEMIT's covariance term (eq. 14) applied to the
/// remainder the projection does not remove. Default 0, the paper's (P alone). The paper's projection assumes K0 nearly
/// low-rank (GPT-2 XL, d_mlp 6400); on the default agent's last layer (d_mlp 512, 4,400 knowledge keys) the null space at
/// threshold 1e-2 still holds about 10% of the preserved keys' energy (0.12 seed 1, 0.10 seed 2), as much per key as it
/// holds of an edit's key (mean ‖Pk‖² 7.2 against 8.6 on seed 1), so large updates in it reach what it should keep.
/// Lifelong with <c>--preserve knowledge --key-prompts fact</c> (<c>compare-updates --world scenarios/worlds/default.yaml
/// --sequential 200 --batch 10 --methods alphaedit</c>, agents trained at one thread), reliability / generalisation / locality
/// after 200 changes: λ 0 (mean of seeds 1–3) 0.72 / 0.60 / 0.86; λ 30, seeds 1 and 2, 0.69 / 0.56 / 0.95 against 0.75 / 0.60 / 0.85
/// without it; α 0.1 and λ 30 (mean of seeds 1–3) 0.73 / 0.59 / 0.82, where α 0.1 alone lost its locality (0.45, mean of three
/// earlier agents): λ takes over the ridge's work where the preserved keys are, so a smaller α writes the edits more fully
/// without reaching them. Seed 3 alone: threshold 0.1 with λ 30 0.70 / 0.67 / 0.84, with λ 100 0.53 / 0.55 / 0.96; α 0.01 and
/// λ 100 0.53 / 0.49 / 0.77; α 0.1 and λ 10 0.79 / 0.62 / 0.70; α 0.1 and λ 30 at layers 2–3 0.68 / 0.53 / 0.60 (λ 0: 0.65 / 0.61 / 0.88). A trade of reliability for locality, not a way past it.
/// With threshold 0.99 (P keeps all but the largest direction, so λ C0 and Kp do the keeping: MEMIT's solve on the knowledge
/// keys, with the earlier edits' keys) and λ 30, mean of seeds 1–3: 0.76 / 0.68 / 0.85 (λ 300, seed 2: 0.27 / 0.36 / 0.99).</param>
public sealed record AlphaEditHyperParams(IReadOnlyList<int>? Layers = null, EditPosition Position = EditPosition.PromptLast, int ContextPrefixes = 10,
    int Steps = 30, double LearningRate = 0.5, double KlFactor = 0.0625, double WeightDecay = 0.25, double ClampNormFactor = 4,
    double NullSpaceThreshold = 1e-2, double Ridge = 1, PreservedKeys Preserve = PreservedKeys.Corpus, KeyPrompts Keys = KeyPrompts.Edit,
    double CovarianceWeight = 0)
{
    public IReadOnlyList<int> LayersFor(GptConfig config) => Targets.LayersFor(config);

    /// <summary>MEMIT's record with these target-finding settings (its λ unused).</summary>
    public MemitHyperParams Targets => new(Layers, Position, ContextPrefixes, Steps, LearningRate, KlFactor, WeightDecay, ClampNormFactor);
}

/// <summary>
/// What AlphaEdit's projection P let through at one layer for one batch it wrote: P's rank, and the share of each key set's
/// energy in the null space (tr(P K Kᵀ) / tr(K Kᵀ)). An edit is written through P k, so <see cref="EditKeyShare"/> is what the
/// projection leaves of the batch's keys; <see cref="PreservedShare"/> is what it leaves of the keys it protects (0 if P
/// removed them exactly, as the paper assumes of a low-rank K0), which only λ C0 keeps (<see cref="AlphaEditHyperParams.CovarianceWeight"/>).
/// </summary>
/// <param name="Batch">Which batch of this editor's life (1 = the first), counting reverted ones.</param>
/// <param name="Requests">The batch's requests (the columns of K1).</param>
/// <param name="Dimension">P's rank, the null space's dimension.</param>
/// <param name="Width">The key space's dimension, d_mlp.</param>
/// <param name="PreservedShare">Share of the preserved keys' second moment C0 in the null space.</param>
/// <param name="EditKeyShare">Share of the batch's keys' energy in the null space.</param>
/// <param name="EditKeyNorm">Mean ‖P k‖² of the batch's keys: a single edit writes ‖Pk‖² / (α + ‖Pk‖²) of its residual.</param>
/// <param name="EditKeyCosine">Mean cosine between the projected keys of distinct requests (how much the batch's edits share
/// their directions in the null space; 0 with one request).</param>
/// <param name="EarlierEdits">Keys of earlier batches kept out of this one (Kp's columns).</param>
public sealed record NullSpaceUse(int Batch, int Layer, int Requests, int Dimension, int Width, double PreservedShare, double EditKeyShare,
    double EditKeyNorm, double EditKeyCosine, int EarlierEdits)
{
    /// <summary>The measures of P over one batch's keys [d_mlp, n] and the preserved keys' second moment.</summary>
    public static NullSpaceUse Of(int batch, int layer, Tensor projection, Tensor preservedMoment, Tensor keys, int earlierEdits)
    {
        using var scope = NewDisposeScope();
        var p = projection.to(ScalarType.Float64).cpu();
        var k = keys.to(ScalarType.Float64).cpu();
        var c0 = preservedMoment.to(ScalarType.Float64).cpu();
        var pk = p.matmul(k);
        int n = (int)k.shape[1];
        double cosine = 0;
        if (n > 1)
        {
            using var tiny = 1e-12.ToScalar();
            var unit = pk.div(pk.norm(0, keepdim: true).clamp_min(tiny));
            var gram = unit.t().matmul(unit);
            cosine = (gram.sum().item<double>() - gram.trace().item<double>()) / (n * (n - 1.0));
        }
        return new(batch, layer, n, (int)Math.Round(p.trace().item<double>()), (int)p.shape[0],
            p.matmul(c0).trace().item<double>() / c0.trace().item<double>(),
            pk.pow(Scalars.Two).sum().item<double>() / k.pow(Scalars.Two).sum().item<double>(),
            pk.pow(Scalars.Two).sum().item<double>() / n, cosine, earlierEdits);
    }
}

/// <summary>Which prompts an AlphaEdit request's key and δ are taken over.</summary>
public enum KeyPrompts
{
    /// <summary>The edit prompt, bare and after random prefixes (MEMIT's and the paper's).</summary>
    Edit,
    /// <summary>
    /// Every prompt the agent was taught the fact with (<see cref="KeyStatistics.Knowledge"/>, the edit prompt first; requests
    /// about facts it was not taught use the edit prompt alone): one key per change, the mean over its ways of being asked,
    /// and one δ fitted on all of them (<see cref="MemitEditor"/>'s forms).
    /// </summary>
    Fact,
}

/// <summary>Whose keys K0 AlphaEdit's projection leaves alone.</summary>
public enum PreservedKeys
{
    /// <summary>Every token of the agent's corpus (the paper's: every token of a Wikipedia sample).</summary>
    Corpus,
    /// <summary>
    /// Every fact the agent knows, at the tokens it recalls them from (<see cref="KeyStatistics.KnowledgeKeys"/>), but the
    /// facts this editor rewrites: their old values are what the edit replaces.
    /// </summary>
    Knowledge,
}

/// <summary>
/// AlphaEdit (Fang et al. 2025, "AlphaEdit: Null-Space Constrained Knowledge Editing for Language Models", ICLR): MEMIT
/// (targets z, residuals spread over the layers; <see cref="MemitEditor"/>) with the per-layer solve projected onto the
/// null space of the preserved keys K0, so that ΔW K0 ≈ 0 and what the model knew is left alone (eq. 15 and the authors'
/// code): ΔW = R K1ᵀ P (Kp Kpᵀ P + K1 K1ᵀ P + αI)⁻¹, with K1 this batch's keys, Kp the keys of the earlier edits this
/// editor wrote (so a later batch also leaves them alone, the paper's sequential setting), α a ridge and
/// P = Û Ûᵀ, Û the eigenvectors of K0K0ᵀ (<see cref="KeyStatistics.SecondMoment"/> over the agent's own corpus, the
/// papers' Wikipedia sample) whose eigenvalues are below <see cref="AlphaEditHyperParams.NullSpaceThreshold"/> times the
/// largest (the paper's threshold is absolute, 1e-2; see the record for why it is relative here).
/// <para>
/// Kp is state, and it must hold only edits that are in the model. The editor cannot be told whether its delta was
/// applied, so it reads it off the weights: it remembers a fingerprint of the edited layers before each batch and after
/// the newest one. If the weights at the next call are not those after the newest batch but those before some batch,
/// that batch and the ones after it were reverted (or never applied) and their keys are dropped. So single edits
/// (<see cref="EditEvaluation.EachAlone{T}"/>: apply, measure, revert) each start from an empty Kp and do not depend on
/// their order, while sequential edits with one editor accumulate. Weights changed by anything else (another editor,
/// training) keep the remembered keys: those edits are presumed still there. A new editor starts empty; an agent keeps
/// one for its life (<c>policy: alphaedit</c>).
/// </para>
/// </summary>
public sealed class AlphaEditEditor(AlphaEditHyperParams hyperParams, KeyStatistics statistics, IReadOnlyList<string> prefixSource) : IKnowledgeEditor
{
    readonly MemitEditor memit = new(hyperParams.Targets, statistics, prefixSource);
    readonly Dictionary<(Gpt, int), (Tensor Projection, int Dimension)> corpusProjections = new();
    readonly List<Batch> written = [];
    readonly List<NullSpaceUse> nullSpaceLog = [];
    int batches;
    string? weightsAfterNewest;
    Dictionary<string, int>? factOfPrompt;

    /// <summary>
    /// One batch this editor wrote: the fingerprint of the edited layers before it, its keys per layer [d_mlp, n], and the
    /// facts of <see cref="KeyStatistics.Knowledge"/> it rewrote.
    /// </summary>
    sealed record Batch(string WeightsBefore, Dictionary<int, Tensor> Keys, IReadOnlySet<int> Facts);

    public string Name => "alphaedit";

    /// <summary>How many requests' keys the next update must leave alone (Kp's columns), as of the last call.</summary>
    public int RememberedEdits
    {
        get { lock (written) return written.Sum(b => (int)b.Keys.Values.First().shape[1]); }
    }

    /// <summary>What the projection let through, per batch and layer, for every batch this editor has written (reverted ones too).</summary>
    public IReadOnlyList<NullSpaceUse> NullSpaceLog
    {
        get { lock (written) return nullSpaceLog.ToList(); }
    }

    public WeightDelta ComputeDelta(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests)
    {
        lock (written)
        {
            batches++;
            var layers = hyperParams.LayersFor(model.Config).Order().ToList();
            var names = layers.Select(l => $"blocks.{l}.mlp.c_proj.weight").ToList();
            var before = Fingerprint(layers.Select(l => model.Blocks[l].Mlp.Out.weight!));
            ForgetReverted(before);
            var keys = new Dictionary<int, Tensor>();
            var facts = requests.Select(r => FactOf(r.Prompt)).OfType<int>().ToHashSet();
            var rewritten = written.SelectMany(b => b.Facts).Concat(facts).ToHashSet();
            var delta = memit.Write(model, tokenizer, requests, (layer, k, r) =>
            {
                keys[layer] = k.clone().DetachFromDisposeScope();
                var previous = written.Count == 0 ? null : cat(written.Select(b => b.Keys[layer]).ToList(), 1);
                using var preserved = Preserved(model, tokenizer, layer, rewritten);
                nullSpaceLog.Add(NullSpaceUse.Of(batches, layer, preserved.Projection, preserved.Moment, k, previous is null ? 0 : (int)previous.shape[1]));
                return NullSpaceUpdate(k, r, preserved.Projection, previous, hyperParams.Ridge, preserved.Moment, hyperParams.CovarianceWeight);
            }, hyperParams.Keys == KeyPrompts.Fact ? r => FactOf(r.Prompt) is int f ? statistics.Knowledge[f] : [r.Prompt] : null);
            written.Add(new Batch(before, keys, facts));
            // The weights as WeightDelta.Apply will leave them (original + Δ, the same float operation).
            using (no_grad())
                weightsAfterNewest = Fingerprint(layers.Select((l, i) => model.Blocks[l].Mlp.Out.weight!.add(delta.Delta[names[i]], Scalars.One)));
            return delta;
        }
    }

    /// <summary>The null-space dimension per layer (the rank of P) before any edit, for the report; throws where it is empty.</summary>
    public IReadOnlyDictionary<int, int> NullSpaceDimensions(Gpt model, ITextTokenizer tokenizer) =>
        hyperParams.LayersFor(model.Config).Order().ToDictionary(l => l, l =>
        {
            using var preserved = Preserved(model, tokenizer, l, new HashSet<int>());
            return preserved.Dimension;
        });

    /// <summary>The fact of <see cref="KeyStatistics.Knowledge"/> a request rewrites: the one asked by its prompt (null: none).</summary>
    int? FactOf(string prompt)
    {
        if (factOfPrompt is null)
        {
            factOfPrompt = new Dictionary<string, int>();
            foreach (var (prompts, fact) in statistics.Knowledge.Select((p, i) => (p, i)))
                foreach (var p in prompts) factOfPrompt.TryAdd(p, fact);
        }
        return factOfPrompt.TryGetValue(prompt, out int f) ? f : null;
    }

    void ForgetReverted(string current)
    {
        if (written.Count == 0 || current == weightsAfterNewest) return;
        int reverted = written.FindLastIndex(b => b.WeightsBefore == current);
        if (reverted < 0) return;
        foreach (var t in written.Skip(reverted).SelectMany(b => b.Keys.Values)) t.Dispose();
        written.RemoveRange(reverted, written.Count - reverted);
    }

    /// <summary>
    /// The preserved keys at one layer: their mean second moment C0 and the projection P onto its null space, with P's rank.
    /// Disposing it frees the tensors it owns (a batch's), not the kept ones (the corpus').
    /// </summary>
    readonly record struct PreservedKeysAt(Tensor Projection, int Dimension, Tensor Moment, bool Owned) : IDisposable
    {
        public void Dispose()
        {
            if (!Owned) return;
            Projection.Dispose();
            Moment.Dispose();
        }
    }

    /// <summary>
    /// The preserved keys at <paramref name="layer"/>. The corpus' are computed once and kept; the knowledge's leave out the facts
    /// rewritten so far (<paramref name="rewritten"/>, whose keys Kp keeps instead), so they are computed per batch.
    /// </summary>
    PreservedKeysAt Preserved(Gpt model, ITextTokenizer tokenizer, int layer, IReadOnlySet<int> rewritten)
    {
        if (hyperParams.Preserve == PreservedKeys.Knowledge)
        {
            using var scope = NewDisposeScope();
            var keys = statistics.KnowledgeKeys(model, tokenizer, layer);
            var kept = new List<long>();
            long row = 0;
            foreach (var (prompts, fact) in statistics.Knowledge.Select((p, i) => (p, i)))
                for (int p = 0; p < prompts.Count; p++, row++)
                    if (!rewritten.Contains(fact)) kept.Add(row);
            var k0 = keys.index_select(0, tensor(kept.ToArray()));
            using var count = kept.Count.ToScalar();
            var moment = k0.t().matmul(k0).div_(count);
            var projection = NullSpaceProjection(moment, hyperParams.NullSpaceThreshold, layer);
            return new(projection.MoveToOuterDisposeScope(), Dimension(projection), moment.MoveToOuterDisposeScope(), Owned: true);
        }
        lock (corpusProjections)
        {
            var secondMoment = statistics.SecondMoment(model, tokenizer, layer);
            if (!corpusProjections.TryGetValue((model, layer), out var cached))
            {
                var projection = NullSpaceProjection(secondMoment, hyperParams.NullSpaceThreshold, layer);
                corpusProjections[(model, layer)] = cached = (projection.DetachFromDisposeScope(), Dimension(projection));
            }
            return new(cached.Projection, cached.Dimension, secondMoment, Owned: false);
        }
    }

    static int Dimension(Tensor projection) => (int)Math.Round(projection.trace().item<double>());

    /// <summary>
    /// AlphaEdit eq. 13: P = Û Ûᵀ, Û the eigenvectors of the preserved keys' second moment K0K0ᵀ with eigenvalues below
    /// <paramref name="relativeThreshold"/> times the largest; float64. An empty null space is refused: there P = 0 and no edit
    /// could be written.
    /// </summary>
    public static Tensor NullSpaceProjection(Tensor secondMoment, double relativeThreshold, int layer)
    {
        using var scope = NewDisposeScope();
        var (values, vectors) = linalg.eigh(secondMoment.to(ScalarType.Float64).cpu());
        double largest = values.max().item<double>();
        double threshold = relativeThreshold * largest;
        var below = values.data<double>().ToArray().Select((v, i) => (v, i)).Where(x => x.v < threshold).Select(x => (long)x.i).ToArray();
        if (below.Length == 0)
            throw new InputException(null, "--null-space-threshold",
                $"AlphaEdit: the null space of the preserved keys at layer {layer} is empty: no eigenvalue of K0K0ᵀ is below {relativeThreshold:G3} × the largest " +
                $"({threshold:G3}; the smallest is {values.min().item<double>():G3}); raise the threshold");
        var basis = vectors.index_select(1, tensor(below));
        return basis.matmul(basis.t()).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// AlphaEdit eq. 15, solved transposed as the authors' code does: ΔWᵀ = (P (Kp Kpᵀ + K1 K1ᵀ) + αI)⁻¹ P K1 Rᵀ, which is
    /// ΔW = R K1ᵀ P (Kp Kpᵀ P + K1 K1ᵀ P + αI)⁻¹. Keys K1 [d_mlp, n], residuals R [d_model, n], earlier keys Kp [d_mlp, m]
    /// (null: none); float64. ΔW = ΔW P, so every key P removes (the preserved ones) is left alone. With
    /// <paramref name="covarianceWeight"/> λ &gt; 0, λ C0 (<paramref name="preserved"/>, the preserved keys' mean second moment) joins
    /// Kp Kpᵀ + K1 K1ᵀ: the least-squares cost of ‖ΔW P K0‖, MEMIT's preservation term on what P leaves of K0.
    /// </summary>
    public static Tensor NullSpaceUpdate(Tensor keys, Tensor residuals, Tensor projection, Tensor? previousKeys, double ridge,
        Tensor? preserved = null, double covarianceWeight = 0)
    {
        var k = keys.to(ScalarType.Float64).cpu();
        var p = projection.to(ScalarType.Float64).cpu();
        var moment = k.matmul(k.t());
        if (previousKeys is not null)
        {
            var kp = previousKeys.to(ScalarType.Float64).cpu();
            moment = moment.add(kp.matmul(kp.t()), Scalars.One);
        }
        if (preserved is not null && covarianceWeight > 0)
        {
            using var lambda = covarianceWeight.ToScalar();
            moment = moment.add(preserved.to(ScalarType.Float64).cpu(), lambda);
        }
        using var alpha = ridge.ToScalar();
        var a = p.matmul(moment).add(eye(p.shape[0], dtype: ScalarType.Float64).mul(alpha), Scalars.One);
        return linalg.solve(a, p.matmul(k).matmul(residuals.to(ScalarType.Float64).cpu().t())).t();
    }

    /// <summary>SHA-256 of the weights' bytes: equal exactly when the weights are equal bit for bit.</summary>
    static string Fingerprint(IEnumerable<Tensor> weights)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var w in weights)
        {
            using var copy = w.detach().to(ScalarType.Float32).cpu().contiguous();
            hash.AppendData(MemoryMarshal.AsBytes(copy.data<float>().ToArray().AsSpan()));
        }
        return Convert.ToHexString(hash.GetHashAndReset());
    }
}
