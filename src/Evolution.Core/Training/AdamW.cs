using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Training;

/// <summary>
/// Adam with decoupled weight decay (Loshchilov &amp; Hutter 2019, Alg. 2), the same arithmetic in the
/// same order as torch.optim.AdamW, so it gives the same weights as TorchSharp's optimizer.
/// <para>
/// Why our own: in TorchSharp 0.107 an operation taking a <see cref="TorchSharp.Scalar"/> reads the
/// scalar's native handle and passes it on as a bare pointer; a Scalar made implicitly from a double
/// (as in TorchSharp's own optimizers, <c>denom.add_(eps)</c> with an implicit alpha of 1) is then
/// unreachable while libtorch still reads it, and its finalizer can free it mid-call. libtorch then
/// throws from <c>c10::Scalar::toFloat</c> (we saw it once in 14 test runs, in AdamW.step). Here every
/// Scalar is created explicitly and disposed after the operations that read it.
/// </para>
/// With <c>weightDecay = 0</c> this is plain Adam (Kingma &amp; Ba 2015, Alg. 1).
/// </summary>
public sealed class AdamW : IDisposable
{
    /// <summary>Parameters sharing one weight decay (e.g. matrices decayed, biases and gains not).</summary>
    public sealed record Group(IReadOnlyList<Parameter> Parameters, double WeightDecay = 0.0);

    sealed class Moments(Tensor first, Tensor second) : IDisposable
    {
        public Tensor First { get; } = first;
        public Tensor Second { get; } = second;
        public void Dispose() { First.Dispose(); Second.Dispose(); }
    }

    readonly IReadOnlyList<Group> groups;
    readonly Dictionary<Parameter, Moments> moments = new(ReferenceEqualityComparer.Instance);
    readonly double beta1, beta2, epsilon;
    long steps;

    public double LearningRate { get; set; }

    public AdamW(IReadOnlyList<Group> groups, double learningRate, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        this.groups = groups;
        LearningRate = learningRate;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.epsilon = epsilon;
    }

    /// <summary>Plain Adam over <paramref name="parameters"/>.</summary>
    public static AdamW Adam(IEnumerable<Parameter> parameters, double learningRate) => new([new Group(parameters.ToList())], learningRate);

    public void ZeroGrad()
    {
        foreach (var group in groups)
            foreach (var p in group.Parameters)
                p.grad?.zero_();
    }

    public void Step()
    {
        steps++;
        double biasCorrection1 = 1 - Math.Pow(beta1, steps);
        double biasCorrection2 = 1 - Math.Pow(beta2, steps);
        using var _ = no_grad();
        using var beta1Scalar = beta1.ToScalar();
        using var beta2Scalar = beta2.ToScalar();
        using var oneMinusBeta1 = (1 - beta1).ToScalar();
        using var oneMinusBeta2 = (1 - beta2).ToScalar();
        using var epsilonScalar = epsilon.ToScalar();
        using var one = 1.0.ToScalar();
        using var sqrtBiasCorrection2 = Math.Sqrt(biasCorrection2).ToScalar();
        using var stepSize = (-LearningRate / biasCorrection1).ToScalar();
        foreach (var group in groups)
        {
            using var decay = (1 - LearningRate * group.WeightDecay).ToScalar();
            foreach (var p in group.Parameters)
            {
                var grad = p.grad;
                if (grad is null) continue;
                if (!moments.TryGetValue(p, out var m))
                    moments[p] = m = new Moments(zeros_like(p).DetachFromDisposeScope(), zeros_like(p).DetachFromDisposeScope());
                if (group.WeightDecay != 0) p.mul_(decay);
                m.First.mul_(beta1Scalar).add_(grad, oneMinusBeta1);
                m.Second.mul_(beta2Scalar).addcmul_(grad, grad, oneMinusBeta2);
                using var denominator = m.Second.sqrt();
                denominator.div_(sqrtBiasCorrection2).add_(epsilonScalar, one);
                p.addcdiv_(m.First, denominator, stepSize);
            }
        }
    }

    public void Dispose()
    {
        foreach (var m in moments.Values) m.Dispose();
        moments.Clear();
    }
}
