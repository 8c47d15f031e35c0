using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// Causal multi-head self-attention (Vaswani et al. 2017; GPT-2 layout): one stacked q,k,v
/// projection <c>c_attn</c> and an output projection <c>c_proj</c>. Given an attend mask (see
/// <see cref="SequenceLayout"/>), that mask replaces the causal one. Grouped-query attention (Ainslie et al. 2023):
/// with fewer key/value heads than query heads, kv head g serves query heads g·r .. g·r+r−1 (r = n_head / n_kv_head,
/// Hugging Face's repeat_kv); keys and values are expanded to one per query head before their hooks, as TransformerLens'
/// ungroup_grouped_query_attention, so every hook and method sees n_head heads whatever the architecture. Rotary
/// positions rotate q and k after hook_q/hook_k (hook_rot_q, hook_rot_k).
/// Hook points (TransformerLens names): hook_q, hook_k, hook_v, hook_z [batch, pos, head, d_head];
/// hook_attn_scores, hook_pattern [batch, head, query, key]; hook_result [batch, pos, head, d_model]
/// (each head's write to the residual stream, computed only when asked for).
/// <see cref="ForwardSplit"/> takes a separate (normalised) input per head and per q/k/v, as
/// TransformerLens' <c>use_split_qkv_input</c>, so each head's query, key and value can be
/// patched alone (edge-level circuits; Hanna et al. 2024).
/// </summary>
public sealed class Attention : nn.Module<Tensor, Tensor>
{
    readonly Linear c_attn;
    readonly Linear c_proj;
    readonly int nHeads, nKvHeads, dHead, dModel;
    readonly string hookQ, hookK, hookV, hookRotQ, hookRotK, hookScores, hookPattern, hookZ, hookResult;

    public Attention(GptConfig config, int layer) : base("attn")
    {
        dModel = config.DModel;
        nHeads = config.NHeads;
        nKvHeads = config.KeyValueHeads;
        dHead = config.DHead;
        c_attn = nn.Linear(dModel, (nHeads + 2 * nKvHeads) * dHead, hasBias: config.QkvBias);
        c_proj = nn.Linear(nHeads * dHead, dModel, hasBias: config.AttentionOutBias);
        var p = $"blocks.{layer}.attn.";
        (hookQ, hookK, hookV, hookRotQ, hookRotK, hookScores, hookPattern, hookZ, hookResult) =
            (p + "hook_q", p + "hook_k", p + "hook_v", p + "hook_rot_q", p + "hook_rot_k", p + "hook_attn_scores", p + "hook_pattern", p + "hook_z", p + "hook_result");
        RegisterComponents();
    }

    public Linear QkvProjection => c_attn;
    public Linear OutputProjection => c_proj;

    /// <summary>W_Q, W_K, W_V of one head as [d_model, d_head] (x·W convention); K and V are those of the head's kv group.</summary>
    public (Tensor Q, Tensor K, Tensor V) HeadInputWeights(int head)
    {
        var w = c_attn.weight!;
        int group = head / (nHeads / nKvHeads);
        Tensor Slice(long row) => w.narrow(0, row * dHead, dHead).t();
        return (Slice(head), Slice(nHeads + group), Slice(nHeads + nKvHeads + group));
    }

    /// <summary>W_O of every head as [head, d_head, d_model]: head h writes z_h · W_O[h].</summary>
    public Tensor HeadOutputWeights() => c_proj.weight!.t().reshape(nHeads, dHead, dModel);

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <param name="attendMask">Which keys each query attends to, [batch, 1, query, key] bool (null: causal), see <see cref="SequenceLayout"/>.</param>
    /// <param name="rotary">Rotary positions of this forward (null: the model has learned positions).</param>
    public Tensor Forward(Tensor x, HookContext? hooks, Tensor? attendMask = null, Rotary? rotary = null)
    {
        long batch = x.shape[0], pos = x.shape[1];
        var qkv = c_attn.forward(x).view(batch, pos, nHeads + 2 * nKvHeads, dHead);
        var q = qkv.narrow(2, 0, nHeads);
        var k = Ungroup(qkv.narrow(2, nHeads, nKvHeads));
        var v = Ungroup(qkv.narrow(2, nHeads + nKvHeads, nKvHeads));
        return Attend(q, k, v, hooks, attendMask, rotary); // each [b, p, h, d_head]
    }

    /// <summary>
    /// Attention from per-head inputs [batch, pos, head, d_model] (already normalised): head h's
    /// query is qInput[:, :, h]·W_Q[h] + b_Q[h], and likewise for keys and values (with the weights of h's kv group).
    /// With every head given the same input this equals <see cref="Forward"/>.
    /// </summary>
    public Tensor ForwardSplit(Tensor qInput, Tensor kInput, Tensor vInput, HookContext? hooks, Tensor? attendMask = null, Rotary? rotary = null)
    {
        // c_attn.weight is [(H + 2·Hkv)·d_head, d_model]: rows (head, d_head) of q, then k, then v.
        var w = c_attn.weight!.view(nHeads + 2 * nKvHeads, dHead, dModel);
        var b = c_attn.bias?.view(nHeads + 2 * nKvHeads, dHead);
        Tensor Project(Tensor input, long first, long count)
        {
            var weights = UngroupHeads(w.narrow(0, first, count));
            var projected = einsum("bphm,hdm->bphd", input, weights);
            return b is null ? projected : projected.add(UngroupHeads(b.narrow(0, first, count)), Scalars.One);
        }
        return Attend(Project(qInput, 0, nHeads), Project(kInput, nHeads, nKvHeads), Project(vInput, nHeads + nKvHeads, nKvHeads), hooks, attendMask, rotary);
    }

    /// <summary>Keys or values [b, p, kv head, d_head] → [b, p, head, d_head]: each kv head repeated for its group.</summary>
    Tensor Ungroup(Tensor kv) => nKvHeads == nHeads ? kv : kv.repeat_interleave(nHeads / nKvHeads, 2);

    /// <summary>Per-kv-head weights [kv head, ...] → [head, ...], in the same order as <see cref="Ungroup"/>.</summary>
    Tensor UngroupHeads(Tensor perKvHead) => perKvHead.shape[0] == nHeads ? perKvHead : perKvHead.repeat_interleave(nHeads / nKvHeads, 0);

    Tensor Attend(Tensor q, Tensor k, Tensor v, HookContext? hooks, Tensor? attendMask, Rotary? rotary)
    {
        long batch = q.shape[0], pos = q.shape[1];
        if (hooks is not null)
        {
            q = hooks.Apply(hookQ, q);
            k = hooks.Apply(hookK, k);
            v = hooks.Apply(hookV, v);
        }
        if (rotary is not null)
        {
            q = rotary.Apply(q);
            k = rotary.Apply(k);
            if (hooks is not null)
            {
                q = hooks.Apply(hookRotQ, q);
                k = hooks.Apply(hookRotK, k);
            }
        }
        q = q.transpose(1, 2); k = k.transpose(1, 2); v = v.transpose(1, 2); // [b, h, p, d_head]

        Tensor z;
        if (hooks is not null && (hooks.Wants(hookScores) || hooks.Wants(hookPattern)))
        {
            // softmax(q·kᵀ/√d_head + mask)·v, spelled out so scores and pattern can be hooked. Hidden: the future, or
            // what the layout's mask leaves out (broadcast over heads).
            using var scale = Math.Sqrt(dHead).ToScalar();
            using var minusInfinity = float.NegativeInfinity.ToScalar();
            var scores = q.matmul(k.transpose(-2, -1)).div(scale);
            using var hidden = attendMask is null ? ones(pos, pos, dtype: ScalarType.Bool, device: q.device).triu(1) : attendMask.logical_not();
            scores = hooks.Apply(hookScores, scores.masked_fill(hidden, minusInfinity));
            var pattern = hooks.Apply(hookPattern, scores.softmax(-1));
            z = pattern.matmul(v);
        }
        else
        {
            z = attendMask is null
                ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
                : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: attendMask); // bool: true attends
        }
        z = z.transpose(1, 2); // [b, p, h, d_head]
        if (hooks is not null) z = hooks.Apply(hookZ, z);

        if (hooks is not null && hooks.Wants(hookResult))
        {
            // Per-head output z_h·W_O[h]; their sum plus b_O is exactly c_proj(z).
            var result = hooks.Apply(hookResult, einsum("bphd,hdm->bphm", z, HeadOutputWeights()));
            var summed = result.sum(2);
            return c_proj.bias is null ? summed : summed.add(c_proj.bias, Scalars.One);
        }
        return c_proj.forward(z.reshape(batch, pos, nHeads * dHead));
    }
}
