using System.Text.Json.Serialization;

namespace Evolution.Core.Model;

/// <summary>
/// Shape and architecture of a decoder-only transformer, serialised as the checkpoint's config.json. The defaults are
/// GPT-2 (pre-LayerNorm, learned positions, GELU MLP, biases everywhere), so every checkpoint written before the
/// switches existed reads unchanged. The switches cover the Llama family as TransformerLens' HookedTransformerConfig
/// does: <see cref="Norm"/> (LayerNorm or RMSNorm), <see cref="Positions"/> (learned or rotary), <see cref="GatedMlp"/>
/// (SwiGLU), <see cref="KeyValueHeads"/> (grouped-query attention), and which projections carry biases.
/// Parameter names of the model (torch Linear layout [out, in]):
/// wte.weight [V,D]; wpe.weight [T,D] (learned positions only); blocks.{l}.ln_1.{weight, bias (LayerNorm only)};
/// blocks.{l}.attn.c_attn.{weight [(H+2·Hkv)·d_head, D], bias} (q, k, v stacked); blocks.{l}.attn.c_proj.{weight [D, H·d_head], bias};
/// blocks.{l}.ln_2.*; blocks.{l}.mlp.c_fc.{weight [M,D], bias} (the up projection when gated);
/// blocks.{l}.mlp.c_gate.{weight [M,D], bias} (gated only); blocks.{l}.mlp.c_proj.{weight [D,M], bias} (the down
/// projection; the editors' key is its input, mlp.hook_post); ln_f.*; lm_head.weight [V,D] (absent when tied to wte).
/// </summary>
public sealed record GptConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("n_ctx")] public int ContextLength { get; init; } = 128;
    [JsonPropertyName("n_embd")] public int DModel { get; init; } = 128;
    [JsonPropertyName("n_layer")] public int NLayers { get; init; } = 4;
    [JsonPropertyName("n_head")] public int NHeads { get; init; } = 4;
    /// <summary>MLP hidden width; GPT-2 uses 4·D.</summary>
    [JsonPropertyName("n_inner")] public int? DMlpOverride { get; init; }
    [JsonPropertyName("layer_norm_epsilon")] public double LayerNormEps { get; init; } = 1e-5;
    [JsonPropertyName("tie_word_embeddings")] public bool TiedEmbeddings { get; init; } = true;
    /// <summary>"gelu_new" (tanh approximation, GPT-2), "gelu" (exact erf) or "silu" (Llama's SwiGLU gate).</summary>
    [JsonPropertyName("activation_function")] public string Activation { get; init; } = "gelu_new";

    /// <summary>Where the model came from ("gpt2" for ours and GPT-2 folders; "llama", "qwen2", "mistral"); decides defaults such as BOS.</summary>
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "gpt2";
    /// <summary>"layernorm" (x−mean)/σ·γ+β, or "rmsnorm" x/rms(x)·γ (Zhang &amp; Sennrich 2019; Llama).</summary>
    [JsonPropertyName("norm")] public string Norm { get; init; } = "layernorm";
    /// <summary>"learned" (a position table added to the embedding) or "rotary" (RoPE on q and k, Su et al. 2021).</summary>
    [JsonPropertyName("positions")] public string Positions { get; init; } = "learned";
    /// <summary>RoPE base θ: pair i of a head rotates by position·θ^(−2i/d_head).</summary>
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10_000;
    /// <summary>Llama 3's frequency-dependent RoPE scaling; null: none.</summary>
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    /// <summary>Gated MLP (Shazeer 2020): W_down·(act(W_gate·x) ⊙ W_up·x), as Llama, Qwen2 and Mistral.</summary>
    [JsonPropertyName("gated_mlp")] public bool GatedMlp { get; init; }
    /// <summary>Key/value heads for grouped-query attention (Ainslie et al. 2023); null: one per query head.</summary>
    [JsonPropertyName("n_kv_head")] public int? KeyValueHeadsOverride { get; init; }
    /// <summary>Width of a head; null: D / n_head.</summary>
    [JsonPropertyName("head_dim")] public int? DHeadOverride { get; init; }
    [JsonPropertyName("qkv_bias")] public bool QkvBias { get; init; } = true;
    [JsonPropertyName("attn_out_bias")] public bool AttentionOutBias { get; init; } = true;
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; } = true;

    [JsonIgnore] public int DMlp => DMlpOverride ?? 4 * DModel;
    [JsonIgnore] public int DHead => DHeadOverride ?? DModel / NHeads;
    [JsonIgnore] public int KeyValueHeads => KeyValueHeadsOverride ?? NHeads;
    [JsonIgnore] public bool Rotary => Positions == "rotary";
    [JsonIgnore] public bool RmsNorm => Norm == "rmsnorm";

    /// <summary>The architectures a config can be switched to with <see cref="WithArchitecture"/>.</summary>
    public static readonly IReadOnlyList<string> Architectures = ["gpt2", "llama", "qwen2"];

    /// <summary>
    /// This shape in another architecture's layout: "gpt2" (as is), "llama" (RMSNorm, rotary positions, SwiGLU, half as
    /// many key/value heads when n_head is even, no biases, untied head) or "qwen2" (llama with q/k/v biases and a tied
    /// head). For training or testing one shape under several architectures; pretrained folders carry their own switches.
    /// </summary>
    public GptConfig WithArchitecture(string architecture) => architecture switch
    {
        "gpt2" => this,
        "llama" or "qwen2" => this with
        {
            ModelType = architecture, Norm = "rmsnorm", Positions = "rotary", GatedMlp = true, Activation = "silu", LayerNormEps = 1e-6,
            KeyValueHeadsOverride = NHeads % 2 == 0 ? NHeads / 2 : NHeads,
            QkvBias = architecture == "qwen2", AttentionOutBias = false, MlpBias = false, TiedEmbeddings = architecture == "qwen2",
        },
        _ => throw new ArgumentException($"unknown architecture '{architecture}' ({string.Join(", ", Architectures)})", nameof(architecture)),
    };

    public void Validate(string source)
    {
        void Require(bool ok, string field, string problem) => InputException.Require(ok, source, field, problem);
        Require(VocabSize > 0, "vocab_size", $"must be positive, got {VocabSize}");
        Require(ContextLength > 0, "n_ctx", $"must be positive, got {ContextLength}");
        Require(NLayers > 0, "n_layer", $"must be positive, got {NLayers}");
        Require(NHeads > 0, "n_head", $"must be positive, got {NHeads}");
        if (DHeadOverride is { } dHead) Require(dHead > 0, "head_dim", $"must be positive, got {dHead}");
        else Require(DModel > 0 && DModel % NHeads == 0, "n_embd", $"must be a positive multiple of n_head ({NHeads}), got {DModel}");
        Require(DModel > 0, "n_embd", $"must be positive, got {DModel}");
        Require(DMlp > 0, "n_inner", $"must be positive, got {DMlp}");
        Require(KeyValueHeads > 0 && NHeads % KeyValueHeads == 0, "n_kv_head", $"must divide n_head ({NHeads}), got {KeyValueHeads}");
        Require(Activation is "gelu_new" or "gelu" or "silu", "activation_function", $"must be gelu_new, gelu or silu, got '{Activation}'");
        Require(Norm is "layernorm" or "rmsnorm", "norm", $"must be layernorm or rmsnorm, got '{Norm}'");
        Require(Positions is "learned" or "rotary", "positions", $"must be learned or rotary, got '{Positions}'");
        if (Rotary)
        {
            Require(DHead % 2 == 0, "head_dim", $"rotary positions rotate pairs of a head's dimensions: needs an even head width, got {DHead}");
            Require(RopeTheta > 0, "rope_theta", $"must be positive, got {RopeTheta}");
            RopeScaling?.Validate(source);
        }
    }
}

/// <summary>
/// Llama 3's RoPE scaling (HF <c>rope_type: llama3</c>): wavelengths shorter than original_context/high_freq_factor keep
/// their frequency, those longer than original_context/low_freq_factor are slowed by <see cref="Factor"/>, and the band
/// between is interpolated smoothly.
/// </summary>
public sealed record RopeScaling
{
    [JsonPropertyName("rope_type")] public string RopeType { get; init; } = "llama3";
    [JsonPropertyName("factor")] public double Factor { get; init; } = 8;
    [JsonPropertyName("low_freq_factor")] public double LowFrequencyFactor { get; init; } = 1;
    [JsonPropertyName("high_freq_factor")] public double HighFrequencyFactor { get; init; } = 4;
    [JsonPropertyName("original_max_position_embeddings")] public int OriginalContext { get; init; } = 8192;

    public void Validate(string source)
    {
        void Require(bool ok, string field, string problem) => InputException.Require(ok, source, "rope_scaling." + field, problem);
        Require(RopeType == "llama3", "rope_type", $"only llama3 scaling is supported, got '{RopeType}'");
        Require(Factor > 0, "factor", $"must be positive, got {Factor}");
        Require(HighFrequencyFactor > LowFrequencyFactor && LowFrequencyFactor > 0, "high_freq_factor", $"must exceed low_freq_factor ({LowFrequencyFactor}) > 0, got {HighFrequencyFactor}");
        Require(OriginalContext > 0, "original_max_position_embeddings", $"must be positive, got {OriginalContext}");
    }
}
