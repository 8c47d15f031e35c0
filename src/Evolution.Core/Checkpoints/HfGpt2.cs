using System.Text.Json;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Checkpoints;

/// <summary>
/// Hugging Face GPT-2 checkpoints from a local folder (<c>config.json</c> + <c>model.safetensors</c>).
/// HF stores GPT-2's projections as Conv1D weights [in, out]; our model uses torch Linear [out, in],
/// so those four matrices per block are transposed (as nanoGPT's <c>from_pretrained</c> does).
/// The <c>transformer.</c> prefix is optional; the causal-mask buffers (<c>attn.bias</c>,
/// <c>attn.masked_bias</c>) are ignored.
/// </summary>
public static class HfGpt2
{
    static readonly string[] Conv1DWeights = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];

    public static GptConfig ReadConfig(string directory)
    {
        var path = Path.Combine(directory, "config.json");
        if (!File.Exists(path)) throw new InputException(path, null, "not found: a GPT-2 folder needs config.json, model.safetensors, vocab.json and merges.txt");
        JsonElement root;
        try { root = JsonDocument.Parse(File.ReadAllText(path)).RootElement; }
        catch (JsonException e) { throw new InputException(path, null, $"invalid JSON: {e.Message}", (int?)e.LineNumber + 1); }

        int Int(string field, int? fallback = null, string? alias = null)
        {
            if (root.TryGetProperty(field, out var v) || (alias is not null && root.TryGetProperty(alias, out v)))
                return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : throw new InputException(path, field, $"expected an integer, got {v}");
            return fallback ?? throw new InputException(path, field, "missing");
        }
        int? OptionalInt(string field) => root.TryGetProperty(field, out var v) && v.ValueKind != JsonValueKind.Null ? Int(field) : null;
        var activation = root.TryGetProperty("activation_function", out var a) ? a.GetString() ?? "gelu_new" : "gelu_new";
        var config = new GptConfig
        {
            VocabSize = Int("vocab_size"),
            ContextLength = Int("n_positions", alias: "n_ctx"),
            DModel = Int("n_embd"),
            NLayers = Int("n_layer"),
            NHeads = Int("n_head"),
            DMlpOverride = OptionalInt("n_inner"),
            LayerNormEps = root.TryGetProperty("layer_norm_epsilon", out var eps) ? eps.GetDouble() : 1e-5,
            TiedEmbeddings = !root.TryGetProperty("tie_word_embeddings", out var tie) || tie.GetBoolean(),
            Activation = activation,
        };
        config.Validate(path);
        return config;
    }

    /// <summary>Renames and transposes HF tensors into this model's names and layout.</summary>
    public static Dictionary<string, Tensor> ToEvolutionStateDict(IReadOnlyDictionary<string, Tensor> hf, GptConfig config, string source)
    {
        var result = new Dictionary<string, Tensor>();
        foreach (var (rawName, value) in hf)
        {
            var name = rawName.StartsWith("transformer.", StringComparison.Ordinal) ? rawName["transformer.".Length..] : rawName;
            if (name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal)) continue;
            if (name.StartsWith("h.", StringComparison.Ordinal)) name = "blocks." + name[2..];
            var tensor = value.dtype is ScalarType.Float16 or ScalarType.BFloat16 or ScalarType.Float64 ? value.to(ScalarType.Float32) : value;
            if (Conv1DWeights.Any(suffix => name.EndsWith(suffix, StringComparison.Ordinal)))
            {
                if (tensor.dim() != 2) throw new CheckpointFormatException(source, rawName, $"expected a matrix, found shape [{string.Join(",", tensor.shape)}]");
                tensor = tensor.t().contiguous();
            }
            if (name == "lm_head.weight" && config.TiedEmbeddings) continue; // same tensor as wte
            result[name] = tensor;
        }
        return result;
    }

    /// <summary>Loads the folder's GPT-2 onto <paramref name="device"/>, requiring every tensor with the right shape.</summary>
    public static Gpt Load(string directory, Device device)
    {
        var config = ReadConfig(directory);
        var weightsPath = Path.Combine(directory, Checkpoint.WeightsFile);
        var stateDict = ToEvolutionStateDict(SafeTensors.Load(weightsPath), config, weightsPath);
        var model = new Gpt(config);
        Checkpoint.LoadWeights(model, stateDict, weightsPath);
        model.to(device);
        model.eval();
        return model;
    }
}
