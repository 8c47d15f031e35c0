using Evolution.Core;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>Which state is restored: the residual stream after a block, or one block's MLP or attention output.</summary>
public enum TraceKind { Residual, Mlp, Attention }

/// <param name="Samples">Noise samples averaged (Gaussian corruption).</param>
/// <param name="NoiseScale">Noise standard deviation in units of the token-embedding standard deviation (ROME uses 3).</param>
/// <param name="Window">Layers restored together around each layer (ROME restores 10 of GPT-2 XL's 48 for MLP/attention).</param>
public sealed record CausalTraceOptions(int Samples = 10, double NoiseScale = 3.0, int Window = 1, int Seed = 0);

/// <summary>
/// A causal trace: the target probability with every state clean, with the subject corrupted,
/// and with the subject corrupted but one (layer, token) state restored. Indirect effect =
/// restored − corrupted.
/// </summary>
public sealed record CausalTrace(TraceKind Kind, double CleanProbability, double CorruptedProbability, double[,] RestoredProbability,
    int SubjectStart, int SubjectEnd)
{
    public int Layers => RestoredProbability.GetLength(0);
    public int Positions => RestoredProbability.GetLength(1);
    public double IndirectEffect(int layer, int position) => RestoredProbability[layer, position] - CorruptedProbability;

    /// <summary>The (layer, position) with the largest indirect effect.</summary>
    public (int Layer, int Position, double Effect) Peak()
    {
        var best = (0, 0, double.NegativeInfinity);
        for (int l = 0; l < Layers; l++)
            for (int t = 0; t < Positions; t++)
                if (IndirectEffect(l, t) > best.Item3) best = (l, t, IndirectEffect(l, t));
        return best;
    }
}

/// <summary>
/// Causal tracing (Meng et al. 2022, "Locating and Editing Factual Associations in GPT", §2.1):
/// corrupt the subject tokens, then restore one hidden state at a time and measure how much of the
/// target probability comes back. Corruption is Gaussian noise on the subject's token embeddings
/// (ROME) or, when <c>corruptedTokens</c> is given, symmetric token replacement (another subject of
/// the same token length; Zhang &amp; Nanda 2024 recommend it over noise). The whole layer × position
/// grid for one noise sample is one batched forward (plus one clean forward overall).
/// </summary>
public static class CausalTracing
{
    public static string HookFor(TraceKind kind, int layer) => kind switch
    {
        TraceKind.Residual => $"blocks.{layer}.hook_resid_post",
        TraceKind.Mlp => $"blocks.{layer}.hook_mlp_out",
        _ => $"blocks.{layer}.hook_attn_out",
    };

    public static CausalTrace Trace(Gpt model, FactPrompt prompt, TraceKind kind, CausalTraceOptions? options = null, int[]? corruptedTokens = null)
    {
        options ??= new CausalTraceOptions();
        int layers = model.Config.NLayers, positions = prompt.Tokens.Length;
        if (corruptedTokens is not null && corruptedTokens.Length != positions)
            throw new ArgumentException($"corrupted prompt has {corruptedTokens.Length} tokens, the clean one {positions}: symmetric replacement needs equal lengths");
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var clean = LogitLens.Tokens(model, prompt.Tokens);
        var hookNames = Enumerable.Range(0, layers).Select(l => HookFor(kind, l)).ToHashSet();
        var (cleanLogits, cache) = model.RunWithCache(clean, hookNames.Contains);
        using (cache)
        {
            double cleanProbability = Probability(cleanLogits[0], prompt)[0];

            // Row 0: corrupted baseline; row 1 + l·T + t: restore (layer window around l, position t).
            var rows = new List<IReadOnlyList<Patch>> { Array.Empty<Patch>() };
            for (int l = 0; l < layers; l++)
                for (int t = 0; t < positions; t++)
                    rows.Add(WindowLayers(l, options.Window, layers).Select(w => new Patch(HookFor(kind, w), t)).ToList());

            var restored = new double[layers, positions];
            double corrupted = 0;
            int samples = corruptedTokens is null ? options.Samples : 1;
            var generator = new Generator((ulong)options.Seed, CPU);
            double noiseStd = options.NoiseScale * model.TokenEmbedding.weight!.std().item<float>();
            for (int s = 0; s < samples; s++)
            {
                using var sampleScope = NewDisposeScope();
                Tensor logits;
                if (corruptedTokens is null)
                {
                    // The same noise for every row of this sample, on the subject positions only.
                    var noise = zeros(positions, model.Config.DModel);
                    using var noiseScale = noiseStd.ToScalar();
                    noise[TensorIndex.Slice(prompt.SubjectStart, prompt.SubjectEnd)] =
                        randn(new long[] { prompt.SubjectEnd - prompt.SubjectStart, model.Config.DModel }, generator: generator).mul(noiseScale);
                    noise = noise.to(clean.device);
                    logits = ActivationPatching.Run(model, cache, clean, rows, [Hook.On("hook_embed", (a, _) => a.add(noise, Scalars.One))]);
                }
                else
                {
                    logits = ActivationPatching.Run(model, cache, LogitLens.Tokens(model, corruptedTokens), rows);
                }
                var p = Probability(logits, prompt);
                corrupted += p[0] / samples;
                for (int l = 0; l < layers; l++)
                    for (int t = 0; t < positions; t++)
                        restored[l, t] += p[1 + l * positions + t] / samples;
            }
            return new CausalTrace(kind, cleanProbability, corrupted, restored, prompt.SubjectStart, prompt.SubjectEnd);
        }
    }

    static IEnumerable<int> WindowLayers(int layer, int window, int layers)
    {
        int low = Math.Max(0, layer - window / 2), high = Math.Min(layers, low + Math.Max(1, window));
        return Enumerable.Range(low, high - low);
    }

    /// <summary>p(target | prompt) at the last position, per row of a [rows, pos, vocab] (or [pos, vocab]) logit tensor.</summary>
    static float[] Probability(Tensor logits, FactPrompt prompt)
    {
        if (logits.dim() == 2) logits = logits.unsqueeze(0);
        return logits[TensorIndex.Colon, prompt.LastPosition].softmax(-1)[TensorIndex.Colon, prompt.TargetToken].cpu().data<float>().ToArray();
    }
}
