using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// Position-wise feed-forward layer: W_out·GELU(W_in·x + b_in) + b_out. Geva et al. (2021) read it
/// as a key-value memory: rows of <c>c_fc</c> are keys matched against the input, columns of
/// <c>c_proj</c> are the values they write; ROME/MEMIT edit <c>c_proj</c>.
/// Hook points: mlp.hook_pre (before the activation), mlp.hook_post (after; the "key" k in ROME).
/// </summary>
public sealed class Mlp : nn.Module<Tensor, Tensor>
{
    readonly Linear c_fc;
    readonly Linear c_proj;
    readonly bool tanhGelu;
    readonly string hookPre, hookPost;

    public Mlp(GptConfig config, int layer) : base("mlp")
    {
        c_fc = nn.Linear(config.DModel, config.DMlp);
        c_proj = nn.Linear(config.DMlp, config.DModel);
        tanhGelu = config.Activation == "gelu_new";
        hookPre = $"blocks.{layer}.mlp.hook_pre";
        hookPost = $"blocks.{layer}.mlp.hook_post";
        RegisterComponents();
    }

    /// <summary>Input projection; weight [d_mlp, d_model].</summary>
    public Linear In => c_fc;

    /// <summary>Output projection; weight [d_model, d_mlp]. Column j is the value written by neuron j.</summary>
    public Linear Out => c_proj;

    public override Tensor forward(Tensor x) => Forward(x, null);

    public Tensor Forward(Tensor x, HookContext? hooks)
    {
        var pre = c_fc.forward(x);
        if (hooks is not null) pre = hooks.Apply(hookPre, pre);
        var post = tanhGelu
            ? nn.functional.gelu(pre, GELU.Approximate.tanh) // GPT-2's "gelu_new"
            : nn.functional.gelu(pre);
        if (hooks is not null) post = hooks.Apply(hookPost, post);
        return c_proj.forward(post);
    }
}
