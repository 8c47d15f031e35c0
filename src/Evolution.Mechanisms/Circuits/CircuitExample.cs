using Evolution.Core;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Circuits;

/// <summary>
/// One fact for a circuit search: the clean prompt, its corruption, and the tokens of the metric.
/// Corruption is symmetric token replacement of the subject (<paramref name="CorruptedTokens"/>: the
/// prompt with another subject of the same type and token length; Zhang &amp; Nanda 2024) or, when
/// null, Gaussian noise of <see cref="CircuitOptions.NoiseScale"/> × the embedding std on the subject
/// tokens (Meng et al. 2022).
/// </summary>
/// <param name="Distractors">The metric is logit(target) − mean logit(distractors): the corrupted
/// subject's answer (Hanna et al. 2024 use the corrupted answer), or every other candidate.</param>
/// <param name="Candidates">First tokens of the world's candidate answers (target included), for Hit@10.</param>
public sealed record CircuitExample(FactPrompt Prompt, int[]? CorruptedTokens, int[] Distractors, int[] Candidates);

/// <param name="IgSteps">Integration steps m of EAP-IG (Hanna et al. use 5 to 20).</param>
/// <param name="NoiseScale">Gaussian corruption in units of the token-embedding std (ROME: 3).</param>
/// <param name="FactsPerBatch">Facts per forward/backward (times IgSteps rows).</param>
public sealed record CircuitOptions(int IgSteps = 5, double NoiseScale = 3.0, int Seed = 0, int FactsPerBatch = 8);

/// <summary>
/// Examples as tensors: right-padded clean tokens [B, T] (padding after the last real token cannot
/// change earlier positions of a causal model, and the metric reads each row at its own last
/// position), the corruption as an embedding delta [B, T, d] (corrupted minus clean token embedding,
/// or noise), and metric weights [B, vocab] (+1 target, −1/k on the k distractors).
/// </summary>
public sealed class CircuitBatch : IDisposable
{
    public required Tensor Tokens { get; init; }
    public required Tensor EmbedDelta { get; init; }
    public required Tensor MetricWeights { get; init; }
    public required Tensor LastPositions { get; init; }
    public required IReadOnlyList<CircuitExample> Examples { get; init; }
    public long Rows => Tokens.shape[0];

    public static CircuitBatch Build(Gpt model, IReadOnlyList<CircuitExample> examples, CircuitOptions options, int seed)
    {
        var device = model.Unembedding.device;
        int rows = examples.Count, length = examples.Max(e => e.Prompt.Tokens.Length), vocab = model.Config.VocabSize, d = model.Config.DModel;
        var tokens = new long[rows * length];
        var corrupted = new long[rows * length];
        var weights = new float[rows * vocab];
        var noiseMask = new float[rows * length];
        for (int b = 0; b < rows; b++)
        {
            var e = examples[b];
            if (e.CorruptedTokens is not null && e.CorruptedTokens.Length != e.Prompt.Tokens.Length)
                throw new ArgumentException($"corrupted prompt of \"{e.Prompt.Text}\" has {e.CorruptedTokens.Length} tokens, the clean one {e.Prompt.Tokens.Length}");
            for (int t = 0; t < length; t++)
            {
                int clean = t < e.Prompt.Tokens.Length ? e.Prompt.Tokens[t] : e.Prompt.Tokens[^1];
                tokens[b * length + t] = clean;
                corrupted[b * length + t] = e.CorruptedTokens is not null && t < e.CorruptedTokens.Length ? e.CorruptedTokens[t] : clean;
                if (e.CorruptedTokens is null && t >= e.Prompt.SubjectStart && t < e.Prompt.SubjectEnd) noiseMask[b * length + t] = 1;
            }
            weights[b * vocab + e.Prompt.TargetToken] += 1;
            foreach (var x in e.Distractors) weights[b * vocab + x] -= 1f / e.Distractors.Length;
        }
        using var scope = NewDisposeScope();
        var cleanTokens = tensor(tokens, [rows, length], device: device);
        var corruptTokens = tensor(corrupted, [rows, length], device: device);
        using var _ = no_grad();
        var wte = model.TokenEmbedding.weight!;
        var delta = wte[corruptTokens] - wte[cleanTokens];
        if (examples.Any(e => e.CorruptedTokens is null))
        {
            using var generator = new Generator((ulong)seed, CPU);
            double std = options.NoiseScale * wte.std().item<float>();
            using var stdScalar = std.ToScalar();
            var noise = randn(new long[] { rows, length, d }, generator: generator).mul(stdScalar).to(device);
            delta = delta.add(noise * tensor(noiseMask, [rows, length, 1], device: device), Scalars.One);
        }
        return new CircuitBatch
        {
            Tokens = cleanTokens.MoveToOuterDisposeScope(),
            EmbedDelta = delta.MoveToOuterDisposeScope(),
            MetricWeights = tensor(weights, [rows, vocab], device: device).MoveToOuterDisposeScope(),
            LastPositions = tensor(examples.Select(e => (long)e.Prompt.LastPosition).ToArray(), device: device).MoveToOuterDisposeScope(),
            Examples = examples,
        };
    }

    /// <summary>The hook that corrupts the input by <paramref name="amount"/> (per row, [B] or [B·m]) of the embedding delta.</summary>
    public Hook Corruption(Tensor amount, long repeat = 1) =>
        Hook.On("hook_embed", (a, _) => a.add(amount.view(-1, 1, 1) * (repeat == 1 ? EmbedDelta : EmbedDelta.repeat_interleave(repeat, 0)), Scalars.One));

    /// <summary>Logits at each row's last real position, [B, vocab].</summary>
    public Tensor LastLogits(Tensor logits, long repeat = 1)
    {
        var last = repeat == 1 ? LastPositions : LastPositions.repeat_interleave(repeat, 0);
        using var rowCount = logits.shape[0].ToScalar();
        return logits[arange(Scalars.Zero, rowCount, Scalars.One, device: logits.device), last];
    }

    /// <summary>The logit difference per row (Hanna et al. 2024: target minus corrupted answer), [B].</summary>
    public Tensor Metric(Tensor logits, long repeat = 1) =>
        (LastLogits(logits, repeat) * (repeat == 1 ? MetricWeights : MetricWeights.repeat_interleave(repeat, 0))).sum(-1);

    public void Dispose()
    {
        Tokens.Dispose(); EmbedDelta.Dispose(); MetricWeights.Dispose(); LastPositions.Dispose();
    }
}
