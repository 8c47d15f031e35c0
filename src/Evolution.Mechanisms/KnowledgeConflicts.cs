using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>A context that contradicts memory: "Context: &lt;statement with another object&gt; &lt;question&gt;".</summary>
public sealed record ConflictCase(string Context, string Question, string MemoryAnswer, string ContextAnswer)
{
    public string Prompt => ContextFormat.Line([Context], Question, markStatements: false);
}

/// <summary>
/// How one conflict was decided. <see cref="MemorizationRatio"/> = p_mem / (p_mem + p_ctx) over the
/// two answers' sequence probabilities (<see cref="Core.Evaluation.MemorizationRatio"/>, Longpre et al. 2021).
/// Per layer: the last position's attention mass on the context tokens (mean over heads), and the
/// direct effect of that layer's attention and MLP on logit(memory) − logit(context) for the answers'
/// first tokens (positive favours memory).
/// </summary>
public sealed record ConflictResult(string Prompt, string MemoryAnswer, string ContextAnswer, double LogPMemory, double LogPContext,
    double MemorizationRatio, double[] AttentionToContext, double[] AttentionLogitDifference, double[] MlpLogitDifference)
{
    public bool MemoryWins => LogPMemory > LogPContext;
}

public static class KnowledgeConflicts
{
    public static ConflictResult Analyze(Gpt model, ITextTokenizer tokenizer, ConflictCase conflict)
    {
        var scores = new CandidateRanker(model, tokenizer).Score(conflict.Prompt, [" " + conflict.MemoryAnswer, " " + conflict.ContextAnswer]);
        double ratio = MemorizationRatio.OfLogProbabilities(scores[0], scores[1]);

        int[] tokens = [.. tokenizer.PromptStart, .. tokenizer.Encode(conflict.Prompt)];
        int contextStart = tokenizer.PromptStart.Count + tokenizer.Encode("Context:").Length;
        int contextEnd = tokenizer.PromptStart.Count + tokenizer.Encode($"Context: {conflict.Context}").Length;
        int last = tokens.Length - 1, layers = model.Config.NLayers;
        int memoryToken = tokenizer.Encode(" " + conflict.MemoryAnswer)[0], contextToken = tokenizer.Encode(" " + conflict.ContextAnswer)[0];

        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (_, cache) = model.RunWithCache(LogitLens.Tokens(model, tokens),
            n => n.EndsWith("attn.hook_pattern") || n.EndsWith("hook_attn_out") || n.EndsWith("hook_mlp_out") || n == $"blocks.{layers - 1}.hook_resid_post");
        using (cache)
        {
            var Effect = DirectLogitAttribution.DirectEffect(model, cache[$"blocks.{layers - 1}.hook_resid_post"][0, last],
                model.Unembedding[memoryToken] - model.Unembedding[contextToken]);

            var attention = new double[layers];
            var attentionEffect = new double[layers];
            var mlpEffect = new double[layers];
            for (int l = 0; l < layers; l++)
            {
                attention[l] = cache[$"blocks.{l}.attn.hook_pattern"][0, TensorIndex.Colon, last, TensorIndex.Slice(contextStart, contextEnd)].sum(-1).mean().item<float>();
                attentionEffect[l] = Effect(cache[$"blocks.{l}.hook_attn_out"][0, last]);
                mlpEffect[l] = Effect(cache[$"blocks.{l}.hook_mlp_out"][0, last]);
            }
            return new ConflictResult(conflict.Prompt, conflict.MemoryAnswer, conflict.ContextAnswer, scores[0], scores[1], ratio, attention, attentionEffect, mlpEffect);
        }
    }
}
