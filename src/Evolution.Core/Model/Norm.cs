using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// The normalisation before each sublayer and before the unembedding. LayerNorm (Ba et al. 2016; GPT-2):
/// (x − mean(x)) / √(var(x) + ε) · γ + β. RMSNorm (Zhang &amp; Sennrich 2019; Llama, Qwen2, Mistral): x / √(mean(x²) + ε) · γ,
/// no centring and no β, computed in float32 whatever the weights' dtype, as Hugging Face's LlamaRMSNorm does.
/// Parameters are named weight and bias either way, so checkpoints keep GPT-2's names (ln_1.weight, ...).
/// </summary>
public sealed class Norm : nn.Module<Tensor, Tensor>
{
    readonly Parameter weight;
    readonly Parameter? bias;
    readonly long[] shape;
    readonly double eps;
    readonly bool rms;

    public Norm(GptConfig config) : base(config.RmsNorm ? "rmsnorm" : "layernorm")
    {
        shape = [config.DModel];
        eps = config.LayerNormEps;
        rms = config.RmsNorm;
        weight = new Parameter(ones(config.DModel));
        bias = rms ? null : new Parameter(zeros(config.DModel));
        RegisterComponents();
    }

    /// <summary>γ, [d_model].</summary>
    public Tensor Weight => weight;

    /// <summary>β, [d_model]; null for RMSNorm.</summary>
    public Tensor? Bias => bias;

    public override Tensor forward(Tensor x)
    {
        if (!rms) return nn.functional.layer_norm(x, shape, weight, bias, eps);
        using var scope = NewDisposeScope();
        var wide = x.to(ScalarType.Float32);
        using var epsilon = eps.ToScalar();
        var normalized = wide.mul(wide.pow(Scalars.Two).mean([-1], keepdim: true).add(epsilon, Scalars.One).rsqrt());
        return weight.mul(normalized.to(x.dtype)).MoveToOuterDisposeScope();
    }
}
