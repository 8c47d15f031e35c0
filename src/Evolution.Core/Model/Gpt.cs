using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// GPT-2 style decoder (Radford et al. 2019), written like nanoGPT's model.py:
/// x₀ = W_E[tokens] + W_pos[positions]; x_{l+1} = Block_l(x_l); logits = LN_f(x_L)·W_Uᵀ.
/// With rotary positions (Llama family) there is no W_pos: x₀ = W_E[tokens] and positions rotate q and k in every layer.
/// The other architecture switches (RMSNorm, gated MLP, grouped-query attention, biases) live in the block's parts.
/// Every intermediate passes a named hook point (TransformerLens names: hook_embed, hook_pos_embed,
/// blocks.{l}.*, ln_final.hook_normalized), so tracers and editors are written against names,
/// not against this class. Parameter names are listed on <see cref="GptConfig"/>.
/// </summary>
public sealed class Gpt : nn.Module<Tensor, Tensor>
{
    readonly Embedding wte;
    readonly Embedding? wpe;
    readonly ModuleList<Block> blocks;
    readonly Norm ln_f;
    readonly Linear? lm_head;

    public GptConfig Config { get; }

    /// <param name="initSeed">Seeds the weight initialisation through a private generator, so the
    /// weights never depend on torch's global random state (or on what else runs concurrently).</param>
    /// <param name="initialise">False when every weight is about to be loaded from a checkpoint: skips drawing them.</param>
    public Gpt(GptConfig config, int initSeed = 0, bool initialise = true) : base("gpt")
    {
        config.Validate("model config");
        Config = config;
        wte = nn.Embedding(config.VocabSize, config.DModel);
        wpe = config.Rotary ? null : nn.Embedding(config.ContextLength, config.DModel);
        blocks = nn.ModuleList(Enumerable.Range(0, config.NLayers).Select(l => new Block(config, l)).ToArray());
        ln_f = new Norm(config);
        lm_head = config.TiedEmbeddings ? null : nn.Linear(config.DModel, config.VocabSize, hasBias: false);
        RegisterComponents();
        if (initialise) InitialiseWeights(initSeed);
    }

    public ModuleList<Block> Blocks => blocks;
    public Embedding TokenEmbedding => wte;
    /// <summary>The learned position table; null with rotary positions.</summary>
    public Embedding? PositionEmbedding => wpe;
    public Norm FinalNorm => ln_f;

    /// <summary>Unembedding W_U as [vocab, d_model] (tied to W_E unless configured otherwise).</summary>
    public Tensor Unembedding => (lm_head?.weight ?? wte.weight)!;

    /// <summary>Every hook point name, in forward order (without the optional split inputs, see <see cref="SplitInputHookNames"/>).</summary>
    public IReadOnlyList<string> HookNames => hookNames ??= ListHookNames(Config);
    IReadOnlyList<string>? hookNames;
    HashSet<string>? hookNameSet;

    /// <summary>
    /// The optional split-input hook points of layer <paramref name="layer"/> (see <see cref="Block"/>):
    /// hooking or caching any of them switches that block to per-head q/k/v inputs. Like
    /// TransformerLens' use_split_qkv_input they are off unless asked for by name, so a cache of
    /// "everything" does not include them.
    /// </summary>
    public static IReadOnlyList<string> SplitInputHookNames(int layer) =>
        [$"blocks.{layer}.hook_q_input", $"blocks.{layer}.hook_k_input", $"blocks.{layer}.hook_v_input", $"blocks.{layer}.hook_mlp_in"];

    /// <summary>Plain forward: logits [batch, pos, vocab], no hooks.</summary>
    public override Tensor forward(Tensor tokens) => Run(tokens, null);

    /// <summary>Forward through hook points; <paramref name="hooks"/> = null is the plain forward.</summary>
    public Tensor Run(Tensor tokens, HookContext? hooks) => FinalResidual(tokens, hooks).matmul(Unembedding.t());

    /// <summary>
    /// The forward up to the unembedding: ln_final's output [batch, pos, d_model]. For callers that need the logits at a
    /// few positions only (scoring continuations), which then unembed just those rows instead of every position.
    /// </summary>
    /// <param name="layout">Explicit positions and attention mask (null: positions 0..T−1, causal attention), see
    /// <see cref="SequenceLayout"/>. The context length then bounds the largest position, not the number of tokens.</param>
    public Tensor FinalResidual(Tensor tokens, HookContext? hooks = null, SequenceLayout? layout = null)
    {
        if (layout is null)
        {
            long pos = tokens.shape[^1];
            if (pos > Config.ContextLength)
                throw new ArgumentException($"input has {pos} tokens, the model's context is {Config.ContextLength}");
        }
        else
        {
            using var largest = layout.Positions.max();
            long last = largest.item<long>();
            if (last >= Config.ContextLength)
                throw new ArgumentException($"input reaches position {last}, the model's context is {Config.ContextLength} positions (0..{Config.ContextLength - 1})");
        }
        using var stop = tokens.shape[^1].ToScalar();
        using var plainPositions = layout is null ? arange(Scalars.Zero, stop, Scalars.One, device: tokens.device).unsqueeze(0) : null;
        var positions = layout?.Positions ?? plainPositions!;
        var residual = wte.forward(tokens);
        if (hooks is not null) residual = hooks.Apply("hook_embed", residual);
        if (wpe is not null)
        {
            var posEmbed = wpe.forward(positions);
            if (hooks is not null) posEmbed = hooks.Apply("hook_pos_embed", posEmbed.expand_as(residual));
            residual = residual.add(posEmbed, Scalars.One);
        }
        using var rotary = Config.Rotary ? new Rotary(Config, positions) : null;
        foreach (var block in blocks)
            residual = block.Forward(residual, hooks, layout?.AttendMask, rotary);
        var normalized = ln_f.forward(residual);
        if (hooks is not null) normalized = hooks.Apply("ln_final.hook_normalized", normalized);
        return normalized;
    }

    /// <summary>
    /// Forward that records the activations whose names pass <paramref name="names"/> (all of <see cref="HookNames"/> when null),
    /// as <paramref name="hooks"/> leave them (an agent's own weight change applied through hooks is part of what is recorded).
    /// </summary>
    public (Tensor Logits, ActivationCache Cache) RunWithCache(Tensor tokens, Func<string, bool>? names = null, bool detach = true, IReadOnlyList<Hook>? hooks = null)
    {
        hookNameSet ??= HookNames.ToHashSet();
        var context = new HookContext(hooks, cacheFilter: names ?? hookNameSet.Contains, detachCache: detach);
        return (Run(tokens, context), context.Cache);
    }

    /// <summary>Forward with hooks that read, replace or add to activations.</summary>
    public Tensor RunWithHooks(Tensor tokens, params Hook[] hooks) => Run(tokens, new HookContext(hooks));

    /// <summary>Logit lens (nostalgebraist 2020): decode a residual-stream vector with LN_f and W_U.</summary>
    public Tensor Unembed(Tensor residual) => ln_f.forward(residual).matmul(Unembedding.t());

    public long ParameterCount() => parameters().Sum(p => p.numel());

    /// <summary>GPT-2 initialisation: N(0, 0.02), residual projections scaled by 1/√(2L).</summary>
    void InitialiseWeights(int seed)
    {
        using var _ = no_grad();
        using var generator = new Generator((ulong)seed, CPU);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith(".bias")) nn.init.zeros_(p);
            else if (name.Contains("ln_")) nn.init.ones_(p);
            // Tensor.normal_ rather than nn.init.normal_: TorchSharp 0.107's init.normal_ ignores its generator.
            else if (name.EndsWith("c_proj.weight")) p.normal_(0, 0.02 / Math.Sqrt(2 * Config.NLayers), generator);
            else p.normal_(0, 0.02, generator);
        }
    }

    static IReadOnlyList<string> ListHookNames(GptConfig config)
    {
        var names = new List<string> { "hook_embed" };
        if (!config.Rotary) names.Add("hook_pos_embed");
        for (int l = 0; l < config.NLayers; l++)
        {
            var p = $"blocks.{l}.";
            names.AddRange([p + "hook_resid_pre", p + "ln1.hook_normalized", p + "attn.hook_q", p + "attn.hook_k", p + "attn.hook_v"]);
            if (config.Rotary) names.AddRange([p + "attn.hook_rot_q", p + "attn.hook_rot_k"]);
            names.AddRange([
                p + "attn.hook_attn_scores", p + "attn.hook_pattern", p + "attn.hook_z", p + "attn.hook_result", p + "hook_attn_out",
                p + "hook_resid_mid", p + "ln2.hook_normalized", p + "mlp.hook_pre"]);
            if (config.GatedMlp) names.Add(p + "mlp.hook_pre_linear");
            names.AddRange([p + "mlp.hook_post", p + "hook_mlp_out", p + "hook_resid_post"]);
        }
        names.Add("ln_final.hook_normalized");
        return names;
    }
}
