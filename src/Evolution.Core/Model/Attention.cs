using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// Causal multi-head self-attention (Vaswani et al. 2017; GPT-2 layout): one stacked q,k,v
/// projection <c>c_attn</c> and an output projection <c>c_proj</c>. Given an attend mask (see
/// <see cref="SequenceLayout"/>), that mask replaces the causal one.
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
    readonly int nHeads, dHead, dModel;
    readonly string hookQ, hookK, hookV, hookScores, hookPattern, hookZ, hookResult;

    public Attention(GptConfig config, int layer) : base("attn")
    {
        dModel = config.DModel;
        nHeads = config.NHeads;
        dHead = config.DHead;
        c_attn = nn.Linear(dModel, 3 * dModel);
        c_proj = nn.Linear(dModel, dModel);
        var p = $"blocks.{layer}.attn.";
        (hookQ, hookK, hookV, hookScores, hookPattern, hookZ, hookResult) =
            (p + "hook_q", p + "hook_k", p + "hook_v", p + "hook_attn_scores", p + "hook_pattern", p + "hook_z", p + "hook_result");
        RegisterComponents();
    }

    public Linear QkvProjection => c_attn;
    public Linear OutputProjection => c_proj;

    /// <summary>W_Q, W_K, W_V of one head as [d_model, d_head] (x·W convention).</summary>
    public (Tensor Q, Tensor K, Tensor V) HeadInputWeights(int head)
    {
        var w = c_attn.weight!;
        Tensor Slice(int which) => w.narrow(0, which * dModel + head * dHead, dHead).t();
        return (Slice(0), Slice(1), Slice(2));
    }

    /// <summary>W_O of every head as [head, d_head, d_model]: head h writes z_h · W_O[h].</summary>
    public Tensor HeadOutputWeights() => c_proj.weight!.t().reshape(nHeads, dHead, dModel);

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <param name="attendMask">Which keys each query attends to, [batch, 1, query, key] bool (null: causal), see <see cref="SequenceLayout"/>.</param>
    public Tensor Forward(Tensor x, HookContext? hooks, Tensor? attendMask = null)
    {
        long batch = x.shape[0], pos = x.shape[1];
        var qkv = c_attn.forward(x).view(batch, pos, 3, nHeads, dHead);
        return Attend(qkv.select(2, 0), qkv.select(2, 1), qkv.select(2, 2), hooks, attendMask); // each [b, p, h, d_head]
    }

    /// <summary>
    /// Attention from per-head inputs [batch, pos, head, d_model] (already LayerNormed): head h's
    /// query is qInput[:, :, h]·W_Q[h] + b_Q[h], and likewise for keys and values. With every head
    /// given the same input this equals <see cref="Forward(Tensor, HookContext?, Tensor?)"/>.
    /// </summary>
    public Tensor ForwardSplit(Tensor qInput, Tensor kInput, Tensor vInput, HookContext? hooks, Tensor? attendMask = null)
    {
        // c_attn.weight is [3·d_model, d_model]: rows (which, head, d_head) → [3, head, d_head, d_model].
        var w = c_attn.weight!.view(3, nHeads, dHead, dModel);
        var b = c_attn.bias!.view(3, nHeads, dHead);
        Tensor Project(Tensor input, int which) => einsum("bphm,hdm->bphd", input, w[which]).add(b[which], Scalars.One);
        return Attend(Project(qInput, 0), Project(kInput, 1), Project(vInput, 2), hooks, attendMask);
    }

    Tensor Attend(Tensor q, Tensor k, Tensor v, HookContext? hooks, Tensor? attendMask)
    {
        long batch = q.shape[0], pos = q.shape[1];
        if (hooks is not null)
        {
            q = hooks.Apply(hookQ, q);
            k = hooks.Apply(hookK, k);
            v = hooks.Apply(hookV, v);
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
            return result.sum(2).add(c_proj.bias!, Scalars.One);
        }
        return c_proj.forward(z.reshape(batch, pos, dModel));
    }
}
