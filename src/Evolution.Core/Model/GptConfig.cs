using System.Text.Json.Serialization;

namespace Evolution.Core.Model;

/// <summary>
/// Shape of a GPT-2 style decoder (pre-LayerNorm, learned positions, GELU MLP).
/// Serialised as the checkpoint's config.json. Parameter names of the Gpt model:
/// wte.weight [V,D]; wpe.weight [T,D]; blocks.{l}.ln_1.{weight,bias};
/// blocks.{l}.attn.c_attn.{weight [3D,D], bias [3D]} (q,k,v stacked, torch Linear layout out×in);
/// blocks.{l}.attn.c_proj.{weight [D,D], bias}; blocks.{l}.ln_2.*;
/// blocks.{l}.mlp.c_fc.{weight [M,D], bias [M]}; blocks.{l}.mlp.c_proj.{weight [D,M], bias [D]};
/// ln_f.{weight,bias}; lm_head.weight [V,D] (absent when tied to wte).
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
    /// <summary>"gelu_new" (tanh approximation, GPT-2) or "gelu" (exact erf).</summary>
    [JsonPropertyName("activation_function")] public string Activation { get; init; } = "gelu_new";

    [JsonIgnore] public int DMlp => DMlpOverride ?? 4 * DModel;
    [JsonIgnore] public int DHead => DModel / NHeads;

    public void Validate(string source)
    {
        void Require(bool ok, string field, string problem) => InputException.Require(ok, source, field, problem);
        Require(VocabSize > 0, "vocab_size", $"must be positive, got {VocabSize}");
        Require(ContextLength > 0, "n_ctx", $"must be positive, got {ContextLength}");
        Require(NLayers > 0, "n_layer", $"must be positive, got {NLayers}");
        Require(NHeads > 0, "n_head", $"must be positive, got {NHeads}");
        Require(DModel > 0 && DModel % NHeads == 0, "n_embd", $"must be a positive multiple of n_head ({NHeads}), got {DModel}");
        Require(DMlp > 0, "n_inner", $"must be positive, got {DMlp}");
        Require(Activation is "gelu_new" or "gelu", "activation_function", $"must be gelu_new or gelu, got '{Activation}'");
    }
}
