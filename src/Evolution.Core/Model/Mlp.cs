using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// Position-wise feed-forward layer: W_out·act(W_in·x + b_in) + b_out (GPT-2), or gated (Shazeer 2020; Llama's SwiGLU):
/// W_down·(act(W_gate·x) ⊙ W_up·x). Geva et al. (2021) read it as a key-value memory: the hidden activation is the key
/// matched against the input, columns of <c>c_proj</c> (W_out, W_down) are the values it writes; ROME/MEMIT edit
/// <c>c_proj</c> and take its input, mlp.hook_post, as the key, whichever form the layer has.
/// Hook points (TransformerLens names): mlp.hook_pre (W_in·x or W_gate·x, before the activation), mlp.hook_pre_linear
/// (W_up·x, gated only), mlp.hook_post (the input of c_proj).
/// </summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    readonly Linear c_fc;
    readonly Linear? c_gate;
    readonly Linear c_proj;
    readonly string activation;
    readonly string hookPre, hookPreLinear, hookPost;

    public Mlp(GptConfig config, int layer) : base("mlp")
    {
        c_fc = nn.Linear(config.DModel, config.DMlp, hasBias: config.MlpBias);
        c_gate = config.GatedMlp ? nn.Linear(config.DModel, config.DMlp, hasBias: config.MlpBias) : null;
        c_proj = nn.Linear(config.DMlp, config.DModel, hasBias: config.MlpBias);
        activation = config.Activation;
        hookPre = $"blocks.{layer}.mlp.hook_pre";
        hookPreLinear = $"blocks.{layer}.mlp.hook_pre_linear";
        hookPost = $"blocks.{layer}.mlp.hook_post";
        RegisterComponents();
    }

    /// <summary>Input projection (the up projection when gated); weight [d_mlp, d_model].</summary>
    public Linear In => c_fc;

    /// <summary>Gate projection of a gated MLP; weight [d_mlp, d_model]; null otherwise.</summary>
    public Linear? Gate => c_gate;

    /// <summary>Output (down) projection; weight [d_model, d_mlp]. Column j is the value written by neuron j.</summary>
    public Linear Out => c_proj;

    public override Tensor forward(Tensor x) => Forward(x, null);

    public Tensor Forward(Tensor x, HookContext? hooks)
    {
        var pre = (c_gate ?? c_fc).forward(x);
        if (hooks is not null) pre = hooks.Apply(hookPre, pre);
        var post = Activate(pre);
        if (c_gate is not null)
        {
            var linear = c_fc.forward(x);
            if (hooks is not null) linear = hooks.Apply(hookPreLinear, linear);
            post = post.mul(linear);
        }
        if (hooks is not null) post = hooks.Apply(hookPost, post);
        return c_proj.forward(post);
    }

    Tensor Activate(Tensor pre) => activation switch
    {
        "gelu_new" => nn.functional.gelu(pre, GELU.Approximate.tanh), // GPT-2's tanh approximation
        "silu" => nn.functional.silu(pre),
        _ => nn.functional.gelu(pre),
    };
}
