using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>The target token as read off one residual-stream state.</summary>
public sealed record LensReading(string Hook, double Probability, int Rank, int TopToken);

/// <summary>
/// Logit lens (nostalgebraist 2020): decode the residual stream after each layer with the final
/// LayerNorm and the unembedding, and follow the target token's probability and rank at the last
/// position. Entry 0 is the embedding (blocks.0.hook_resid_pre), entry l+1 the output of block l.
/// </summary>
public static class LogitLens
{
    public static IReadOnlyList<LensReading> Run(Gpt model, FactPrompt prompt)
    {
        var names = new List<string> { "blocks.0.hook_resid_pre" };
        names.AddRange(Enumerable.Range(0, model.Config.NLayers).Select(l => $"blocks.{l}.hook_resid_post"));
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (_, cache) = model.RunWithCache(Tokens(model, prompt.Tokens), names.Contains);
        using (cache)
        {
            return names.Select(name =>
            {
                var logits = model.Unembed(cache[name][0, prompt.LastPosition]);
                var probabilities = logits.softmax(-1);
                double p = probabilities[prompt.TargetToken].item<float>();
                int rank = 1 + (int)(logits > logits[prompt.TargetToken]).sum().item<long>();
                return new LensReading(name, p, rank, (int)logits.argmax().item<long>());
            }).ToList();
        }
    }

    internal static Tensor Tokens(Gpt model, int[] tokens) =>
        tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length], device: model.Unembedding.device);
}
