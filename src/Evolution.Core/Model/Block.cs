using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// Pre-norm transformer block (GPT-2, Llama; the norm is LayerNorm or RMSNorm, see <see cref="Norm"/>):
/// resid_mid = resid_pre + attn(ln_1(resid_pre)); resid_post = resid_mid + mlp(ln_2(resid_mid)).
/// Hook points: hook_resid_pre, ln1.hook_normalized, hook_attn_out, hook_resid_mid,
/// ln2.hook_normalized, hook_mlp_out, hook_resid_post (plus those of attn and mlp).
/// Split inputs (TransformerLens <c>use_split_qkv_input</c>; used by edge-level circuits, Hanna et
/// al. 2024): hook_q_input, hook_k_input, hook_v_input [batch, pos, head, d_model] are the residual
/// stream copied per head before ln_1, and hook_mlp_in [batch, pos, d_model] the residual before
/// ln_2. They are computed only when a hook context wants them; then ln1.hook_normalized does not
/// fire (each head has its own normalised input).
/// </summary>
public sealed class Block : nn.Module<Tensor, Tensor>
{
    readonly Norm ln_1;
    readonly Attention attn;
    readonly Norm ln_2;
    readonly Mlp mlp;
    readonly string hookResidPre, hookLn1, hookAttnOut, hookResidMid, hookLn2, hookMlpOut, hookResidPost;
    readonly string hookQInput, hookKInput, hookVInput, hookMlpIn;
    readonly int nHeads;

    public Block(GptConfig config, int layer) : base($"block{layer}")
    {
        ln_1 = new Norm(config);
        attn = new Attention(config, layer);
        ln_2 = new Norm(config);
        mlp = new Mlp(config, layer);
        var p = $"blocks.{layer}.";
        (hookResidPre, hookLn1, hookAttnOut, hookResidMid, hookLn2, hookMlpOut, hookResidPost) =
            (p + "hook_resid_pre", p + "ln1.hook_normalized", p + "hook_attn_out", p + "hook_resid_mid",
             p + "ln2.hook_normalized", p + "hook_mlp_out", p + "hook_resid_post");
        (hookQInput, hookKInput, hookVInput, hookMlpIn) = (p + "hook_q_input", p + "hook_k_input", p + "hook_v_input", p + "hook_mlp_in");
        nHeads = config.NHeads;
        RegisterComponents();
    }

    public Attention Attn => attn;
    public Mlp Mlp => mlp;
    public Norm Ln1 => ln_1;
    public Norm Ln2 => ln_2;

    public override Tensor forward(Tensor x) => Forward(x, null);

    /// <param name="attendMask">Which keys each query attends to, [batch, 1, query, key] bool (null: causal), see <see cref="SequenceLayout"/>.</param>
    /// <param name="rotary">Rotary positions of this forward (null: learned positions, added to the embedding).</param>
    public Tensor Forward(Tensor residual, HookContext? hooks, Tensor? attendMask = null, Rotary? rotary = null)
    {
        if (hooks is null)
        {
            residual = residual.add(attn.Forward(ln_1.forward(residual), null, attendMask, rotary), Scalars.One);
            return residual.add(mlp.Forward(ln_2.forward(residual), null), Scalars.One);
        }
        residual = hooks.Apply(hookResidPre, residual);
        var attnOut = hooks.Apply(hookAttnOut, SplitInputsWanted(hooks)
            ? attn.ForwardSplit(ln_1.forward(PerHead(hooks, hookQInput, residual)), ln_1.forward(PerHead(hooks, hookKInput, residual)),
                ln_1.forward(PerHead(hooks, hookVInput, residual)), hooks, attendMask, rotary)
            : attn.Forward(hooks.Apply(hookLn1, ln_1.forward(residual)), hooks, attendMask, rotary));
        residual = hooks.Apply(hookResidMid, residual.add(attnOut, Scalars.One));
        var mlpIn = hooks.Wants(hookMlpIn) ? hooks.Apply(hookMlpIn, residual) : residual;
        var mlpOut = hooks.Apply(hookMlpOut, mlp.Forward(hooks.Apply(hookLn2, ln_2.forward(mlpIn)), hooks));
        return hooks.Apply(hookResidPost, residual.add(mlpOut, Scalars.One));
    }

    bool SplitInputsWanted(HookContext hooks) => hooks.Wants(hookQInput) || hooks.Wants(hookKInput) || hooks.Wants(hookVInput);

    /// <summary>The residual [b, p, d_model] copied for each head [b, p, head, d_model], through the hook.</summary>
    Tensor PerHead(HookContext hooks, string name, Tensor residual)
    {
        long batch = residual.shape[0], pos = residual.shape[1], d = residual.shape[2];
        return hooks.Apply(name, residual.unsqueeze(2).expand(batch, pos, nHeads, d));
    }
}
