using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Training;

/// <summary>
/// Lays a model's parameters and their gradients out in one contiguous buffer each, every
/// parameter (and its <c>.grad</c>) becoming a view of its slice, for as long as this object lives.
/// Zeroing, clipping and AdamW then run as a handful of ops over whole groups instead of a few
/// ops per parameter tensor (as PyTorch's FSDP flat parameters and Apex's multi-tensor optimizers
/// do). Autograd accumulates into an existing <c>.grad</c> in place, so backward writes straight
/// into the buffer. Every element sees the same arithmetic as with separate tensors, so the
/// weights are identical. <see cref="Dispose"/> gives each parameter its own storage back.
/// </summary>
public sealed class FlatParameters : IDisposable
{
    readonly Parameter[] parameters;
    readonly Tensor[] gradientViews;
    readonly Tensor data, gradient;

    /// <param name="parameters">The parameters, in the model's order (gradient norms are combined in this order).</param>
    /// <param name="group">Which group a parameter belongs to (0 .. groupCount-1); each group becomes one contiguous slice, in group order.</param>
    public FlatParameters(IReadOnlyList<Parameter> parameters, Func<Parameter, int> group, int groupCount)
    {
        if (parameters.Count == 0) throw new ArgumentException("no parameters to flatten");
        this.parameters = parameters.ToArray();
        var first = parameters[0];
        long total = parameters.Sum(p => p.numel());
        // Detached from any enclosing dispose scope: the buffers live as long as this object.
        data = empty(total, dtype: first.dtype, device: first.device).DetachFromDisposeScope();
        gradient = zeros(total, dtype: first.dtype, device: first.device).DetachFromDisposeScope();
        gradientViews = new Tensor[parameters.Count];
        Groups = new Parameter[groupCount];
        using var _ = no_grad();
        long offset = 0;
        for (int g = 0; g < groupCount; g++)
        {
            long groupStart = offset;
            for (int i = 0; i < parameters.Count; i++)
            {
                var p = parameters[i];
                if (group(p) != g) continue;
                long n = p.numel();
                using var slice = data.narrow(0, offset, n);
                using var view = slice.view(p.shape);
                view.copy_(p);
                p.set_(view);
                using var gradientSlice = gradient.narrow(0, offset, n);
                gradientViews[i] = gradientSlice.view(p.shape).DetachFromDisposeScope();
                p.grad = gradientViews[i];
                offset += n;
            }
            // The group's slice as one leaf tensor sharing the buffer; its gradient is the matching slice.
            Groups[g] = (Parameter)new Parameter(data.narrow(0, groupStart, offset - groupStart), requires_grad: false).DetachFromDisposeScope();
            using var groupGradient = gradient.narrow(0, groupStart, offset - groupStart);
            Groups[g].grad = groupGradient;
        }
        if (offset != total) throw new ArgumentException($"a parameter's group is outside 0..{groupCount - 1}");
    }

    /// <summary>One tensor per group, sharing storage with the model's parameters (hand these to the optimizer).</summary>
    public Parameter[] Groups { get; }

    public void ZeroGrad() => gradient.zero_();

    /// <summary>
    /// Scales the gradients so their global L2 norm is at most <paramref name="maxNorm"/>, torch's
    /// clip_grad_norm_ rule, without a host round trip. The norm is taken per parameter and then
    /// over those norms, as clip_grad_norm_ does, so the result is the one the per-tensor version gave.
    /// </summary>
    public void ClipGradientNorm(double maxNorm)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        // Explicit Scalars, kept alive until the ops that read them are done (see AdamW for why).
        using var epsilon = 1e-6.ToScalar();
        using var one = 1.0.ToScalar();
        using var bound = maxNorm.ToScalar();
        var total = stack(gradientViews.Select(g => g.norm()).ToArray()).norm();
        var scale = total.add(epsilon, one).reciprocal_().mul_(bound).clamp_max_(one);
        gradient.mul_(scale);
    }

    /// <summary>Gives every parameter its own storage back (and drops its gradient).</summary>
    public void Dispose()
    {
        using (no_grad())
        {
            foreach (var p in parameters)
            {
                using var detached = p.detach();
                using var own = detached.clone();
                p.set_(own);
                p.grad = null;
            }
        }
        foreach (var g in Groups) { g.grad = null; g.Dispose(); }
        foreach (var v in gradientViews) v.Dispose();
        data.Dispose();
        gradient.Dispose();
    }
}
