using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Circuits;

/// <summary>Roles of attention heads in knowledge circuits (Yao et al. 2024, §4.2).</summary>
public enum HeadRole
{
    /// <summary>Attends from the last token to the subject and its output promotes the answer: moves the subject's attribute to the last position.</summary>
    Mover,
    /// <summary>Attends from the last token to the relation tokens more than to the subject.</summary>
    Relation,
    Other,
}

/// <param name="SubjectAttention">Attention mass from the last token to the subject tokens.</param>
/// <param name="RelationAttention">Attention mass from the last token to the other prompt tokens (the relation's words; &lt;|endoftext|&gt; excluded, it is an attention sink).</param>
/// <param name="TargetRank">Rank of the target among the candidate answers in the head's logit-lens output.</param>
public sealed record HeadRoleReading(string Head, int Layer, int HeadIndex, double SubjectAttention, double RelationAttention, int TargetRank, HeadRole Role);

/// <summary>
/// Labels the heads of a circuit as Yao et al. (2024) do: from the attention pattern of the last
/// token (hook_pattern) and the head's logit-lens output (its hook_result at the last position
/// through ln_final and the unembedding, nostalgebraist 2020): a mover head attends mostly to the
/// subject and promotes the target (ranks it within the top <c>promoteRank</c> candidates, default first),
/// a relation head attends mostly to the relation tokens.
/// </summary>
public static class HeadRoles
{
    public static IReadOnlyList<HeadRoleReading> Label(Gpt model, CircuitExample example, Circuit circuit, int promoteRank = 1)
    {
        var g = circuit.Graph;
        var nodes = circuit.Nodes();
        var heads = (from l in Enumerable.Range(0, g.Layers) from h in Enumerable.Range(0, g.Heads)
                     where nodes.Contains(g.UpstreamName(g.HeadNode(l, h))) select (Layer: l, Head: h)).ToList();
        if (heads.Count == 0) return [];
        var prompt = example.Prompt;
        int last = prompt.LastPosition;
        var layers = heads.Select(x => x.Layer).ToHashSet();
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var (_, cache) = model.RunWithCache(LogitLens.Tokens(model, prompt.Tokens),
            n => layers.Any(l => n == $"blocks.{l}.attn.hook_pattern" || n == $"blocks.{l}.attn.hook_result"));
        using (cache)
        {
            var candidates = example.Candidates.Distinct().ToArray();
            return heads.Select(x =>
            {
                var pattern = cache[$"blocks.{x.Layer}.attn.hook_pattern"][0, x.Head, last].cpu().data<float>().ToArray();
                double subject = 0, relation = 0;
                for (int t = 1; t <= last; t++)
                    if (t >= prompt.SubjectStart && t < prompt.SubjectEnd) subject += pattern[t];
                    else relation += pattern[t];
                var lens = model.Unembed(cache[$"blocks.{x.Layer}.attn.hook_result"][0, last, x.Head]).cpu().data<float>().ToArray();
                int rank = 1 + candidates.Count(c => c != prompt.TargetToken && lens[c] >= lens[prompt.TargetToken]);
                var role = subject >= relation && rank <= promoteRank ? HeadRole.Mover
                    : relation > subject ? HeadRole.Relation : HeadRole.Other;
                return new HeadRoleReading(g.UpstreamName(g.HeadNode(x.Layer, x.Head)), x.Layer, x.Head, subject, relation, rank, role);
            }).ToList();
        }
    }
}
