using System.Globalization;
using System.Text.RegularExpressions;
using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>An attention head by layer and index; named "L{layer}H{head}" as the peer-pressure record names them.</summary>
public sealed record HeadRef(int Layer, int Head)
{
    public string Name => $"L{Layer}H{Head}";
    public override string ToString() => Name;

    /// <summary>"L1H3" (also the circuit graph's "a1.h3").</summary>
    public static HeadRef? Parse(string text)
    {
        var m = Regex.Match(text.Trim(), @"^(?:[Ll](\d+)[Hh](\d+)|a(\d+)\.h(\d+))$");
        if (!m.Success) return null;
        string layer = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[3].Value, head = m.Groups[2].Success ? m.Groups[2].Value : m.Groups[4].Value;
        return new HeadRef(int.Parse(layer, CultureInfo.InvariantCulture), int.Parse(head, CultureInfo.InvariantCulture));
    }

    /// <summary>Every head of a model with <paramref name="layers"/> × <paramref name="heads"/>.</summary>
    public static IReadOnlyList<HeadRef> All(int layers, int heads) =>
        [.. Enumerable.Range(0, layers).SelectMany(l => Enumerable.Range(0, heads).Select(h => new HeadRef(l, h)))];
}

/// <summary>What an intervention does: replace the chosen heads' outputs by zero or by their mean, or scale them (or the attention paid to the peers' statements) by a factor.</summary>
public enum HeadAblation { Zero, Mean, Scale }

/// <summary>
/// A causal intervention on an agent's forward pass, as in the head-ablation and patching studies of sycophancy and peer
/// pressure (e.g. silencing a few mid-layer heads moves resistance to a wrong majority while accuracy alone stays): the
/// chosen heads' outputs z (<c>blocks.{l}.attn.hook_z</c>, before W_O) are zeroed, replaced by their mean over a reference
/// set of prompts (mean ablation, which keeps the head's average contribution and removes only what depends on the input),
/// or multiplied by <see cref="Factor"/>. With <see cref="PeerAttention"/> the heads keep their outputs and instead the
/// attention weight every query position puts on the peers' statement tokens is multiplied by <see cref="Factor"/> and each
/// row renormalised (<c>blocks.{l}.attn.hook_pattern</c>); no heads listed then means every head.
/// </summary>
public sealed record Intervention(string Name, HeadAblation Kind, IReadOnlyList<HeadRef> Heads, double Factor = 0, bool PeerAttention = false)
{
    public string Describe() => PeerAttention
        ? $"attention to peers × {Factor.ToString(CultureInfo.InvariantCulture)} in {(Heads.Count == 0 ? "every head" : string.Join(",", Heads))}"
        : $"{Kind.ToString().ToLowerInvariant()}{(Kind == HeadAblation.Scale ? " × " + Factor.ToString(CultureInfo.InvariantCulture) : "")} {string.Join(",", Heads)}";

    /// <summary>The heads this intervention names that a model of this shape lacks (empty: it fits).</summary>
    public IEnumerable<HeadRef> Missing(GptConfig config) => Heads.Where(h => h.Layer < 0 || h.Layer >= config.NLayers || h.Head < 0 || h.Head >= config.NHeads);

    /// <summary>
    /// The hooks that carry the intervention out on one batch. <paramref name="means"/>: per layer the mean z of each head,
    /// [n_head, d_head] (<see cref="MeanHeadOutputs"/>; mean ablation only). <paramref name="peerSpans"/>: per batch row the
    /// token positions [start, end) of the peers' statements (null or empty span: the row has none; peer attention only).
    /// </summary>
    public IReadOnlyList<Hook> Hooks(GptConfig config, IReadOnlyList<Tensor>? means = null, IReadOnlyList<(int Start, int End)>? peerSpans = null)
    {
        var missing = Missing(config).ToList();
        if (missing.Count > 0) throw new ArgumentException($"intervention '{Name}': the model has no head {string.Join(", ", missing)} ({config.NLayers} layers × {config.NHeads} heads)");
        if (PeerAttention) return peerSpans is null ? [] : PeerAttentionHooks(config, peerSpans);
        if (Kind == HeadAblation.Mean && means is null) throw new ArgumentException($"intervention '{Name}': mean ablation needs the heads' mean outputs");
        var hooks = new List<Hook>();
        foreach (var layer in Heads.GroupBy(h => h.Layer))
        {
            // z' = z·keep + offset: keep is 0 (zero, mean) or the factor on the chosen heads and 1 elsewhere; offset the mean on the chosen heads.
            var keep = Enumerable.Repeat(1f, config.NHeads).ToArray();
            foreach (var h in layer) keep[h.Head] = Kind == HeadAblation.Scale ? (float)Factor : 0f;
            int l = layer.Key;
            hooks.Add(Hook.On($"blocks.{l}.attn.hook_z", (z, _) =>
            {
                var k = tensor(keep, [1, 1, config.NHeads, 1], device: z.device, dtype: z.dtype);
                var result = z.mul(k);
                if (Kind == HeadAblation.Mean) result = result.add(means![l].to(z.dtype, z.device).mul(k.neg().add(Scalars.One, Scalars.One)), Scalars.One);
                return result;
            }));
        }
        return hooks;
    }

    IReadOnlyList<Hook> PeerAttentionHooks(GptConfig config, IReadOnlyList<(int Start, int End)> peerSpans)
    {
        if (peerSpans.All(s => s.End <= s.Start)) return [];
        var layers = Heads.Count == 0 ? Enumerable.Range(0, config.NLayers).ToList() : Heads.Select(h => h.Layer).Distinct().ToList();
        return layers.Select(l => Hook.On($"blocks.{l}.attn.hook_pattern", (pattern, _) =>
        {
            // pattern [b, head, query, key]: weight w = factor on (chosen head, peer key) and 1 elsewhere, then rows renormalised.
            long rows = pattern.shape[0], heads = pattern.shape[1], keys = pattern.shape[3];
            var w = new float[rows * heads * keys];
            Array.Fill(w, 1f);
            for (int b = 0; b < rows; b++)
                for (int h = 0; h < heads; h++)
                {
                    if (Heads.Count > 0 && !Heads.Contains(new HeadRef(l, h))) continue;
                    var (start, end) = peerSpans[b];
                    for (int t = start; t < Math.Min(end, keys); t++) w[(b * heads + h) * keys + t] = (float)Factor;
                }
            var weighted = pattern.mul(tensor(w, [rows, heads, 1, keys], device: pattern.device, dtype: pattern.dtype));
            using var tiny = 1e-12.ToScalar();
            return weighted.div(weighted.sum(-1, keepdim: true).clamp_min(tiny));
        })).ToList();
    }

    /// <summary>
    /// Each layer's mean head output z over every token of the reference prompts (read after the tokenizer's start token),
    /// [n_head, d_head] per layer: what mean ablation puts in place of a head's output.
    /// </summary>
    public static IReadOnlyList<Tensor> MeanHeadOutputs(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<string> prompts)
    {
        if (prompts.Count == 0) throw new ArgumentException("mean ablation needs at least one reference prompt");
        int layers = model.Config.NLayers;
        var sums = new double[layers][];
        long count = 0;
        using var _ = no_grad();
        foreach (var prompt in prompts)
        {
            using var scope = NewDisposeScope();
            int[] tokens = [.. tokenizer.PromptStart, .. tokenizer.Encode(prompt)];
            var (_, cache) = model.RunWithCache(LogitLens.Tokens(model, tokens), n => n.EndsWith("attn.hook_z", StringComparison.Ordinal));
            using (cache)
                for (int l = 0; l < layers; l++)
                {
                    var sum = cache[$"blocks.{l}.attn.hook_z"][0].sum(dim: 0).to(ScalarType.Float64).cpu().data<double>().ToArray(); // [head·d_head]
                    sums[l] ??= new double[sum.Length];
                    for (int i = 0; i < sum.Length; i++) sums[l][i] += sum[i];
                }
            count += tokens.Length;
        }
        return sums.Select(s => tensor(s.Select(x => (float)(x / count)).ToArray(), new long[] { model.Config.NHeads, model.Config.DHead }, device: model.Unembedding.device)).ToList();
    }
}
