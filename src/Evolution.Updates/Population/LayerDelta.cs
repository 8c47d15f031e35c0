using Evolution.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates.Population;

/// <summary>
/// What one agent changed in one MLP output projection W (<c>blocks.{l}.mlp.c_proj.weight</c>, [d_model, d_mlp]):
/// ΔW held as low-rank factors ΔW = U Vᵀ (U [d_model, r], V [d_mlp, r]) or, when that would not be smaller, dense.
/// The locate-then-edit methods write low-rank changes: ROME's update is rank one (Meng et al. 2022, eq. 2:
/// ΔW = (v* − Wk*) (C⁻¹k*)ᵀ / ((C⁻¹k*)ᵀ k*)), MEMIT's batch of n edits ΔW = R Kᵀ (λC + K Kᵀ)⁻¹ (Meng et al. 2023,
/// eq. 14) has rank ≤ n, and AlphaEdit only projects that on the right. Fine-tuning (FT-L) changes every entry.
/// Factors live on the CPU in float32; the class owns its tensors.
/// </summary>
public sealed class LayerDelta : IDisposable
{
    /// <summary>
    /// Default relative tolerance: singular values below it times the largest are dropped. The spectral-norm error of
    /// the factors is then at most this fraction of ‖ΔW‖₂, far below what float32 answers can tell apart; it is above
    /// the float32 rounding floor of an editor's ΔW (computed as W' − W in float32, about 1e-7 relative).
    /// </summary>
    public const double DefaultTolerance = 1e-6;

    readonly Tensor? up, down, dense;

    LayerDelta(Tensor? up, Tensor? down, Tensor? dense, long dModel, long dMlp)
    {
        (this.up, this.down, this.dense) = (up, down, dense);
        (DModel, DMlp) = (dModel, dMlp);
    }

    /// <summary>Rows of W (the MLP output width).</summary>
    public long DModel { get; }

    /// <summary>Columns of W (the MLP hidden width: the key k's size).</summary>
    public long DMlp { get; }

    public bool IsDense => dense is not null;

    /// <summary>r, the number of factor columns; for a dense delta, min(d_model, d_mlp) (an upper bound).</summary>
    public int Rank => up is not null ? (int)up.shape[1] : (int)Math.Min(DModel, DMlp);

    /// <summary>U [d_model, r]; null for a dense delta.</summary>
    public Tensor? U => up;

    /// <summary>V [d_mlp, r]; null for a dense delta.</summary>
    public Tensor? V => down;

    /// <summary>ΔW [d_model, d_mlp] when the delta is dense; null for factors.</summary>
    public Tensor? DenseWeight => dense;

    /// <summary>What the agent owns for this layer, in bytes (float32).</summary>
    public long Bytes => 4 * (IsDense ? DModel * DMlp : (DModel + DMlp) * Rank);

    /// <summary>The largest rank kept as factors: above half of min(d_model, d_mlp) the dense form is used.</summary>
    public static int MaxFactorRank(long dModel, long dMlp) => (int)(Math.Min(dModel, dMlp) / 2);

    /// <summary>Factors as given (copied): ΔW = U Vᵀ.</summary>
    public static LayerDelta LowRank(Tensor u, Tensor v)
    {
        if (u.dim() != 2 || v.dim() != 2 || u.shape[1] != v.shape[1])
            throw new ArgumentException($"low-rank factors must be U [d_model, r] and V [d_mlp, r]; got U [{string.Join(", ", u.shape)}] and V [{string.Join(", ", v.shape)}]");
        return new LayerDelta(Own(u), Own(v), null, u.shape[0], v.shape[0]);
    }

    /// <summary>A dense ΔW kept dense (copied).</summary>
    public static LayerDelta Dense(Tensor weightChange)
    {
        if (weightChange.dim() != 2) throw new ArgumentException($"a weight change must be [d_model, d_mlp]; got [{string.Join(", ", weightChange.shape)}]");
        return new LayerDelta(null, null, Own(weightChange), weightChange.shape[0], weightChange.shape[1]);
    }

    /// <summary>
    /// Factors a dense ΔW exactly where it is low-rank: its SVD in float64, keeping the singular values above
    /// <paramref name="relativeTolerance"/> times the largest (U = U_r Σ_r, V = V_r); dense when more than
    /// <see cref="MaxFactorRank"/> of them remain.
    /// </summary>
    public static LayerDelta Factor(Tensor weightChange, double relativeTolerance = DefaultTolerance)
    {
        if (weightChange.dim() != 2) throw new ArgumentException($"a weight change must be [d_model, d_mlp]; got [{string.Join(", ", weightChange.shape)}]");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (left, singular, rightT) = linalg.svd(weightChange.detach().to(ScalarType.Float64).cpu(), fullMatrices: false);
        return FromSvd(left, singular, rightT.t(), weightChange, relativeTolerance);
    }

    /// <summary>An independent copy (the copy owns its tensors).</summary>
    public LayerDelta Copy() => dense is not null ? Dense(dense) : LowRank(up!, down!);

    /// <summary>ΔW as a dense float32 [d_model, d_mlp] matrix (a new tensor).</summary>
    public Tensor ToDense()
    {
        using var _ = no_grad();
        return dense is not null ? dense.clone() : up!.matmul(down!.t());
    }

    /// <summary>
    /// This change followed by <paramref name="next"/>: ΔW = ΔW₁ + ΔW₂, by concatenating factors (U = [U₁ U₂],
    /// V = [V₁ V₂]), so sequential edits stay exact and cheap; dense when either is dense or the concatenated rank
    /// passes <see cref="MaxFactorRank"/>. <see cref="Compressed"/> merges shared directions.
    /// </summary>
    public LayerDelta Plus(LayerDelta next)
    {
        if (next.DModel != DModel || next.DMlp != DMlp)
            throw new ArgumentException($"cannot add a [{next.DModel}, {next.DMlp}] weight change to a [{DModel}, {DMlp}] one");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        if (IsDense || next.IsDense || Rank + next.Rank > MaxFactorRank(DModel, DMlp))
            return Dense(ToDense().add(next.ToDense(), Scalars.One));
        return LowRank(cat([up!, next.up!], 1), cat([down!, next.down!], 1));
    }

    /// <summary>
    /// The same change with the fewest factors the tolerance allows: U Vᵀ = Q_U (R_U R_Vᵀ) Q_Vᵀ by thin QR, then the
    /// SVD of the small r×r middle (float64), as <see cref="Factor"/> would give from the dense matrix at a fraction
    /// of its cost. A dense delta is factored if it turns out low-rank.
    /// </summary>
    public LayerDelta Compressed(double relativeTolerance = DefaultTolerance)
    {
        if (dense is not null) return Factor(dense, relativeTolerance);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var (qU, rU) = linalg.qr(up!.to(ScalarType.Float64));
        var (qV, rV) = linalg.qr(down!.to(ScalarType.Float64));
        var (left, singular, rightT) = linalg.svd(rU.matmul(rV.t()), fullMatrices: false);
        return FromSvd(qU.matmul(left), singular, qV.matmul(rightT.t()), null, relativeTolerance);
    }

    /// <summary>Keeps the singular triplets above the tolerance as factors, or falls back to dense (from <paramref name="original"/> when given).</summary>
    static LayerDelta FromSvd(Tensor left, Tensor singular, Tensor right, Tensor? original, double relativeTolerance)
    {
        long dModel = left.shape[0], dMlp = right.shape[0];
        if (relativeTolerance is < 0 or >= 1 || double.IsNaN(relativeTolerance))
            throw new ArgumentOutOfRangeException(nameof(relativeTolerance), relativeTolerance, "a relative tolerance must be in [0, 1)");
        var values = singular.data<double>().ToArray();
        double largest = values.Length == 0 ? 0 : values[0]; // descending
        int rank = values.Count(s => s > relativeTolerance * largest && s > 0);
        if (rank > MaxFactorRank(dModel, dMlp))
            return Dense((original ?? left.mul(singular).matmul(right.t())).to(ScalarType.Float32));
        var u = left.narrow(1, 0, rank).mul(singular.narrow(0, 0, rank)).to(ScalarType.Float32);
        var v = right.narrow(1, 0, rank).to(ScalarType.Float32);
        return LowRank(u, v);
    }

    /// <summary>A private float32 CPU copy, outside any dispose scope (the delta owns it).</summary>
    static Tensor Own(Tensor t)
    {
        using var _ = no_grad();
        return t.detach().to(ScalarType.Float32).cpu().clone().DetachFromDisposeScope();
    }

    public void Dispose()
    {
        up?.Dispose();
        down?.Dispose();
        dense?.Dispose();
    }
}
