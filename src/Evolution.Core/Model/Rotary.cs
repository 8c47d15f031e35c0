using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// Rotary position embedding (RoPE; Su et al. 2021) in Hugging Face's rotate-half convention: dimension i of a head is
/// paired with dimension i + d/2 and the pair is rotated by angle position·ω_i, with ω_i = θ^(−2i/d):
/// x' = x·cos + rotate_half(x)·sin, rotate_half([x₁, x₂]) = [−x₂, x₁], cos and sin repeated over both halves.
/// Computed once per forward for its positions (explicit ones under a <see cref="SequenceLayout"/>) and applied to
/// queries and keys of every layer.
/// </summary>
public sealed class Rotary : IDisposable
{
    readonly Tensor cos, sin; // [batch or 1, pos, 1, d_head]

    /// <param name="positions">Position ids, [pos] or [batch, pos] long.</param>
    public Rotary(GptConfig config, Tensor positions)
    {
        using var scope = NewDisposeScope();
        var frequencies = tensor(Frequencies(config), dtype: ScalarType.Float32, device: positions.device);
        var batched = positions.dim() == 1 ? positions.unsqueeze(0) : positions;
        var angles = batched.to(ScalarType.Float32).unsqueeze(-1).mul(frequencies); // [b, p, d/2]
        var both = cat([angles, angles], -1).unsqueeze(2); // [b, p, 1, d]
        cos = both.cos().MoveToOuterDisposeScope();
        sin = both.sin().MoveToOuterDisposeScope();
    }

    /// <summary>Rotates queries or keys [batch, pos, head, d_head].</summary>
    public Tensor Apply(Tensor x)
    {
        long half = x.shape[^1] / 2;
        var rotated = cat([x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)], -1);
        return x.mul(cos.to(x.dtype)).add(rotated.mul(sin.to(x.dtype)), Scalars.One);
    }

    /// <summary>ω_i = θ^(−2i/d) for i &lt; d/2, with Llama 3's scaling when configured (HF's _compute_llama3_parameters).</summary>
    public static float[] Frequencies(GptConfig config)
    {
        int d = config.DHead;
        var frequencies = new float[d / 2];
        for (int i = 0; i < d / 2; i++)
        {
            double omega = 1.0 / Math.Pow(config.RopeTheta, 2.0 * i / d);
            if (config.RopeScaling is { } s)
            {
                double wavelength = 2 * Math.PI / omega;
                double lowFrequencyWavelength = s.OriginalContext / s.LowFrequencyFactor;
                double highFrequencyWavelength = s.OriginalContext / s.HighFrequencyFactor;
                if (wavelength > lowFrequencyWavelength) omega /= s.Factor;
                else if (wavelength >= highFrequencyWavelength)
                {
                    double smooth = (s.OriginalContext / wavelength - s.LowFrequencyFactor) / (s.HighFrequencyFactor - s.LowFrequencyFactor);
                    omega = (1 - smooth) * omega / s.Factor + smooth * omega;
                }
            }
            frequencies[i] = (float)omega;
        }
        return frequencies;
    }

    public void Dispose()
    {
        cos.Dispose();
        sin.Dispose();
    }
}
