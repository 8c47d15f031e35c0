using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates;

/// <summary>
/// Statistics of MLP keys k = blocks.{l}.mlp.hook_post that editors weigh an update against, computed once per model and
/// layer and kept, as the papers cache them:
/// <list type="bullet">
/// <item><see cref="SecondMoment"/>: C = E[k kᵀ] over every token of a text sample (ROME §3.1, MEMIT eq. 11: in the papers
/// from Wikipedia, here from the agent's own corpus);</item>
/// <item><see cref="KnowledgeKeys"/>: the key where the agent recalls each fact it knows, the last token of each of the fact's
/// prompts in <paramref name="knowledge"/> (one list of prompts per fact), for AlphaEdit's preserved knowledge.</item>
/// </list>
/// </summary>
public sealed class KeyStatistics(IReadOnlyList<string> texts, IReadOnlyList<IReadOnlyList<string>>? knowledge = null, int maxTexts = 2000)
{
    readonly Dictionary<(Gpt, int), Tensor> moments = new();
    readonly Dictionary<(Gpt, int), Tensor> knowledgeKeys = new();

    /// <summary>The facts' prompts, one list per fact; empty when none were given.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Knowledge { get; } = knowledge ?? [];

    /// <summary>E[k kᵀ] over every token of the corpus sample, [d_mlp, d_mlp] float64.</summary>
    public Tensor SecondMoment(Gpt model, ITextTokenizer tokenizer, int layer)
    {
        lock (moments)
        {
            if (moments.TryGetValue((model, layer), out var cached)) return cached;
            int dMlp = model.Config.DMlp;
            var sum = zeros([dMlp, dMlp], ScalarType.Float64);
            long count = 0;
            foreach (var keys in Keys(model, tokenizer, layer, texts.Take(maxTexts).ToList(), lastTokenOnly: false))
                using (keys)
                {
                    sum.add_(keys.t().matmul(keys), Scalars.One);
                    count += keys.shape[0];
                }
            using var countScalar = count.ToScalar();
            return moments[(model, layer)] = sum.div_(countScalar).DetachFromDisposeScope();
        }
    }

    /// <summary>
    /// The key at the last token of every prompt of <see cref="Knowledge"/>, fact after fact in order, [prompts, d_mlp]
    /// float64; throws when no knowledge was given.
    /// </summary>
    public Tensor KnowledgeKeys(Gpt model, ITextTokenizer tokenizer, int layer)
    {
        if (Knowledge.Count == 0) throw new InvalidOperationException("these key statistics were given no knowledge prompts");
        lock (knowledgeKeys)
        {
            if (knowledgeKeys.TryGetValue((model, layer), out var cached)) return cached;
            var chunks = Keys(model, tokenizer, layer, Knowledge.SelectMany(f => f).ToList(), lastTokenOnly: true).ToList();
            var keys = cat(chunks, 0).DetachFromDisposeScope();
            foreach (var chunk in chunks) chunk.Dispose();
            return knowledgeKeys[(model, layer)] = keys;
        }
    }

    /// <summary>Keys of <paramref name="prompts"/> in chunks of 64 texts, [tokens, d_mlp] float64 on the CPU, every token or the last of each.</summary>
    static IEnumerable<Tensor> Keys(Gpt model, ITextTokenizer tokenizer, int layer, IReadOnlyList<string> prompts, bool lastTokenOnly)
    {
        var hook = $"blocks.{layer}.mlp.hook_post";
        foreach (var chunk in prompts.Chunk(64))
        {
            var encoded = chunk.Select(t => (int[])[.. tokenizer.PromptStart, .. tokenizer.Encode(t).Take(model.Config.ContextLength - tokenizer.PromptStart.Count)]).ToList();
            int length = encoded.Max(e => e.Length);
            var tokens = new long[encoded.Count * length];
            var mask = new bool[encoded.Count * length];
            // Right-padded: a causal model's keys at a text's tokens do not see the padding after them.
            for (int i = 0; i < encoded.Count; i++)
                for (int t = 0; t < encoded[i].Length; t++) { tokens[i * length + t] = encoded[i][t]; mask[i * length + t] = !lastTokenOnly || t == encoded[i].Length - 1; }
            Tensor keys;
            using (no_grad())
            using (NewDisposeScope())
            {
                var (_, activations) = model.RunWithCache(tensor(tokens, [encoded.Count, length], device: model.Unembedding.device), n => n == hook);
                using (activations)
                    keys = activations[hook].reshape(-1, model.Config.DMlp).cpu().to(ScalarType.Float64)[tensor(mask)].MoveToOuterDisposeScope();
            }
            yield return keys;
        }
    }
}
