using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates;

/// <summary>
/// Second moment of MLP keys, C = E[k kᵀ] with k = blocks.{l}.mlp.hook_post over every token of a
/// text sample (ROME §3.1, MEMIT eq. 11: in the papers from Wikipedia, here from the agent's own
/// corpus). Computed once per model and layer and kept, as the papers cache it.
/// </summary>
public sealed class KeyStatistics(IReadOnlyList<string> texts, int maxTexts = 2000)
{
    readonly Dictionary<(Gpt, int), Tensor> cache = new();

    public Tensor SecondMoment(Gpt model, ITextTokenizer tokenizer, int layer)
    {
        lock (cache)
        {
            if (cache.TryGetValue((model, layer), out var cached)) return cached;
            var hook = $"blocks.{layer}.mlp.hook_post";
            int dMlp = model.Config.DMlp;
            var sum = zeros([dMlp, dMlp], ScalarType.Float64);
            long count = 0;
            using (no_grad())
            {
                foreach (var chunk in texts.Take(maxTexts).Chunk(64))
                {
                    using var scope = NewDisposeScope();
                    var encoded = chunk.Select(t => (int[])[tokenizer.EndOfText, .. tokenizer.Encode(t).Take(model.Config.ContextLength - 1)]).ToList();
                    int length = encoded.Max(e => e.Length);
                    var tokens = new long[encoded.Count * length];
                    var mask = new bool[encoded.Count * length];
                    for (int i = 0; i < encoded.Count; i++)
                        for (int t = 0; t < encoded[i].Length; t++) { tokens[i * length + t] = encoded[i][t]; mask[i * length + t] = true; }
                    var (_, activations) = model.RunWithCache(tensor(tokens, [encoded.Count, length], device: model.Unembedding.device), n => n == hook);
                    using (activations)
                    {
                        var keys = activations[hook].reshape(-1, dMlp).cpu().to(ScalarType.Float64)[tensor(mask)];
                        sum.add_(keys.t().matmul(keys), Scalars.One);
                        count += keys.shape[0];
                    }
                }
            }
            using var countScalar = count.ToScalar();
            var moment = sum.div(countScalar).DetachFromDisposeScope();
            cache[(model, layer)] = moment;
            return moment;
        }
    }
}
