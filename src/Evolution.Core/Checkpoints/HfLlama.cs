using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Checkpoints;

/// <summary>
/// Hugging Face folders of the Llama family (<c>model_type</c> llama, qwen2, mistral): RMSNorm, rotary positions,
/// SwiGLU MLP, grouped-query attention. Llama has optional biases on all four attention projections
/// (<c>attention_bias</c>) and on the MLP (<c>mlp_bias</c>); Qwen2 always has q/k/v biases and none elsewhere; Mistral
/// has none. HF names map onto ours (see <see cref="GptConfig"/>): embed_tokens → wte; input_layernorm → ln_1;
/// q/k/v_proj stacked into attn.c_attn; o_proj → attn.c_proj; post_attention_layernorm → ln_2; gate_proj → mlp.c_gate;
/// up_proj → mlp.c_fc; down_proj → mlp.c_proj; model.norm → ln_f; lm_head. Every expected tensor is checked by its HF name
/// and shape from the headers before any data is read; F32, F16 and BF16 are widened to float32 one tensor at a time
/// straight into the model's parameters (no second copy of the model). On a GPU too: keeping 16-bit weights there needs
/// every reader of logits and activations (the ranker, the tracer, the editors) to widen what it reads, which is not
/// done and cannot be tested on this project's CPU machines.
/// </summary>
public static class HfLlama
{
    public static readonly IReadOnlyList<string> ModelTypes = ["llama", "qwen2", "mistral"];

    /// <summary>Reads a Llama-family <c>config.json</c> (LlamaConfig, Qwen2Config, MistralConfig field names) into our config.</summary>
    public static GptConfig ReadConfig(string directory)
    {
        var hf = HfConfig.Read(directory, "a model folder needs config.json and model.safetensors (or shards)");
        var modelType = hf.OptionalString("model_type") ?? throw hf.Error("model_type", "missing");
        if (!ModelTypes.Contains(modelType)) throw hf.Error("model_type", $"'{modelType}' is not a Llama-family type ({string.Join(", ", ModelTypes)})");
        var activation = hf.OptionalString("hidden_act") ?? "silu";
        if (activation != "silu") throw hf.Error("hidden_act", $"only silu (SwiGLU) is supported for {modelType}, got '{activation}'");

        int context = hf.Int("max_position_embeddings");
        // Sliding-window attention (Mistral v0.1; Qwen2 when use_sliding_window) only differs from full attention beyond
        // the window, so the context is capped at the window: every input this model accepts is then computed exactly.
        bool windowed = modelType == "mistral" || (modelType == "qwen2" && hf.OptionalBool("use_sliding_window") == true);
        if (windowed && hf.OptionalInt("sliding_window") is { } window && window < context) context = window;

        bool attentionBias = hf.OptionalBool("attention_bias") ?? false;
        return ValidatedConfig(hf, new GptConfig
        {
            ModelType = modelType,
            VocabSize = hf.Int("vocab_size"),
            ContextLength = context,
            DModel = hf.Int("hidden_size"),
            NLayers = hf.Int("num_hidden_layers"),
            NHeads = hf.Int("num_attention_heads"),
            KeyValueHeadsOverride = hf.OptionalInt("num_key_value_heads"),
            DHeadOverride = hf.OptionalInt("head_dim"),
            DMlpOverride = hf.Int("intermediate_size"),
            LayerNormEps = hf.OptionalDouble("rms_norm_eps") ?? 1e-6,
            TiedEmbeddings = hf.OptionalBool("tie_word_embeddings") ?? false,
            Activation = "silu",
            Norm = "rmsnorm",
            Positions = "rotary",
            RopeTheta = hf.OptionalDouble("rope_theta") ?? 10_000,
            RopeScaling = ReadRopeScaling(hf),
            GatedMlp = true,
            QkvBias = modelType == "qwen2" || attentionBias,
            AttentionOutBias = modelType == "llama" && attentionBias,
            MlpBias = modelType == "llama" && (hf.OptionalBool("mlp_bias") ?? false),
        });
    }

    static GptConfig ValidatedConfig(HfConfig hf, GptConfig config)
    {
        config.Validate(hf.Path);
        return config;
    }

    /// <summary>Llama 3's scaling, or none (absent, or rope_type "default"); the other HF scalings (linear, dynamic, yarn) are refused.</summary>
    static RopeScaling? ReadRopeScaling(HfConfig hf)
    {
        if (hf.OptionalObject("rope_scaling") is not { } s) return null;
        var type = s.OptionalString("rope_type") ?? s.OptionalString("type") ?? throw s.Error("rope_type", "missing");
        if (type == "default") return null;
        if (type != "llama3") throw s.Error("rope_type", $"'{type}' is not supported (llama3 or default)");
        return new RopeScaling
        {
            Factor = s.OptionalDouble("factor") ?? throw s.Error("factor", "missing"),
            LowFrequencyFactor = s.OptionalDouble("low_freq_factor") ?? throw s.Error("low_freq_factor", "missing"),
            HighFrequencyFactor = s.OptionalDouble("high_freq_factor") ?? throw s.Error("high_freq_factor", "missing"),
            OriginalContext = s.OptionalInt("original_max_position_embeddings") ?? throw s.Error("original_max_position_embeddings", "missing"),
        };
    }

    /// <summary>Where an HF tensor goes: our parameter, and the first row it fills (q, k and v share c_attn).</summary>
    public sealed record Target(string Parameter, long[] HfShape, long FirstRow);

    /// <summary>Every tensor a model of this config must have, by HF name, with its HF shape and our parameter.</summary>
    public static IReadOnlyDictionary<string, Target> ExpectedTensors(GptConfig c)
    {
        long v = c.VocabSize, d = c.DModel, m = c.DMlp, q = (long)c.NHeads * c.DHead, kv = (long)c.KeyValueHeads * c.DHead;
        var map = new Dictionary<string, Target>(StringComparer.Ordinal)
        {
            ["model.embed_tokens.weight"] = new("wte.weight", [v, d], 0),
            ["model.norm.weight"] = new("ln_f.weight", [d], 0),
        };
        if (!c.TiedEmbeddings) map["lm_head.weight"] = new("lm_head.weight", [v, d], 0);
        for (int l = 0; l < c.NLayers; l++)
        {
            string hf = $"model.layers.{l}.", ours = $"blocks.{l}.";
            map[hf + "input_layernorm.weight"] = new(ours + "ln_1.weight", [d], 0);
            map[hf + "post_attention_layernorm.weight"] = new(ours + "ln_2.weight", [d], 0);
            foreach (var (name, rows, first) in new[] { ("q_proj", q, 0L), ("k_proj", kv, q), ("v_proj", kv, q + kv) })
            {
                map[hf + $"self_attn.{name}.weight"] = new(ours + "attn.c_attn.weight", [rows, d], first);
                if (c.QkvBias) map[hf + $"self_attn.{name}.bias"] = new(ours + "attn.c_attn.bias", [rows], first);
            }
            map[hf + "self_attn.o_proj.weight"] = new(ours + "attn.c_proj.weight", [d, q], 0);
            if (c.AttentionOutBias) map[hf + "self_attn.o_proj.bias"] = new(ours + "attn.c_proj.bias", [d], 0);
            foreach (var (name, ourName, shape) in new[] { ("gate_proj", "c_gate", new[] { m, d }), ("up_proj", "c_fc", new[] { m, d }), ("down_proj", "c_proj", new[] { d, m }) })
            {
                map[hf + $"mlp.{name}.weight"] = new(ours + $"mlp.{ourName}.weight", shape, 0);
                if (c.MlpBias) map[hf + $"mlp.{name}.bias"] = new(ours + $"mlp.{ourName}.bias", [shape[0]], 0);
            }
        }
        return map;
    }

    /// <summary>Loads the folder's model onto <paramref name="device"/>, in float32 (16-bit weights widened).</summary>
    public static Gpt Load(string directory, Device device)
    {
        var config = ReadConfig(directory);
        var weights = HfWeights.Open(directory);
        var expected = ExpectedTensors(config);
        Check(weights, expected, config);

        var model = new Gpt(config, initialise: false);
        try
        {
            var parameters = model.state_dict();
            using (no_grad())
                weights.ReadEach(expected.ContainsKey, (name, value) =>
                {
                    var target = expected[name];
                    var parameter = parameters[target.Parameter];
                    var slice = target.FirstRow == 0 && parameter.shape.SequenceEqual(target.HfShape) ? parameter : parameter.narrow(0, target.FirstRow, target.HfShape[0]);
                    slice.copy_(value); // converts F16/BF16 to the parameter's float32
                });
            model.to(device);
            model.eval();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Names, shapes and dtypes from the headers: missing, unexpected and misshapen tensors are refused by name.</summary>
    static void Check(HfWeights weights, IReadOnlyDictionary<string, Target> expected, GptConfig config)
    {
        foreach (var (name, (file, entry)) in weights.Tensors)
        {
            if (IsIgnored(name, config)) continue;
            if (!expected.TryGetValue(name, out var target))
                throw new CheckpointFormatException(file, name, $"unexpected tensor for a {config.ModelType} with num_hidden_layers={config.NLayers}, " +
                    $"qkv biases {(config.QkvBias ? "on" : "off")}, o_proj bias {(config.AttentionOutBias ? "on" : "off")}, mlp biases {(config.MlpBias ? "on" : "off")} " +
                    "(expected names like model.layers.0.self_attn.q_proj.weight)");
            if (!entry.Shape.SequenceEqual(target.HfShape))
                throw new CheckpointFormatException(file, name, $"expected shape {Show(target.HfShape)}, found {Show(entry.Shape)}");
            if (entry.DType is not ("F32" or "F16" or "BF16" or "F64"))
                throw new CheckpointFormatException(file, name, $"expected floating-point weights (F32, F16 or BF16), found {entry.DType}");
        }
        var missing = expected.FirstOrDefault(kv => !weights.Tensors.ContainsKey(kv.Key));
        if (missing.Key is not null)
            throw new CheckpointFormatException(weights.Source, missing.Key, $"tensor missing (expected shape {Show(missing.Value.HfShape)})");
    }

    /// <summary>Rotary frequency buffers some checkpoints carry (recomputed here), and the tied head's copy.</summary>
    static bool IsIgnored(string name, GptConfig config) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || (name == "lm_head.weight" && config.TiedEmbeddings);

    static string Show(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";
}
