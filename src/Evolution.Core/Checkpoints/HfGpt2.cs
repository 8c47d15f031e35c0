using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Checkpoints;

/// <summary>
/// Hugging Face GPT-2 checkpoints from a local folder (<c>config.json</c> + <c>model.safetensors</c>).
/// HF stores GPT-2's projections as Conv1D weights [in, out]; our model uses torch Linear [out, in],
/// so those four matrices per block are transposed (as nanoGPT's <c>from_pretrained</c> does).
/// The <c>transformer.</c> prefix is optional; the causal-mask buffers (<c>attn.bias</c>,
/// <c>attn.masked_bias</c>) are ignored. Every expected tensor is checked by its HF name and HF
/// shape, so an error points at what the user actually has in the file.
/// </summary>
public static class HfGpt2
{
    const string Prefix = "transformer.";
    static readonly string[] Conv1DWeights = ["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"];

    /// <summary>Reads HF's <c>config.json</c> (GPT2Config field names) into our config.</summary>
    public static GptConfig ReadConfig(string directory)
    {
        var hf = HfConfig.Read(directory, "a GPT-2 folder needs config.json, model.safetensors, vocab.json and merges.txt");
        // Older configs carry n_ctx; GPT2Config uses n_positions for the position table.
        int context = hf.OptionalInt("n_positions") ?? hf.OptionalInt("n_ctx") ?? throw hf.Error("n_positions", "missing (nor n_ctx given)");
        string activation = hf.OptionalString("activation_function") ?? "gelu_new";
        // HF's "gelu_pytorch_tanh" is the same tanh approximation as "gelu_new", computed by a fused kernel.
        if (activation == "gelu_pytorch_tanh") activation = "gelu_new";

        var config = new GptConfig
        {
            VocabSize = hf.Int("vocab_size"),
            ContextLength = context,
            DModel = hf.Int("n_embd"),
            NLayers = hf.Int("n_layer"),
            NHeads = hf.Int("n_head"),
            DMlpOverride = hf.OptionalInt("n_inner"),
            LayerNormEps = hf.OptionalDouble("layer_norm_epsilon") ?? 1e-5,
            TiedEmbeddings = hf.OptionalBool("tie_word_embeddings") ?? true,
            Activation = activation,
        };
        config.Validate(hf.Path);
        return config;
    }

    /// <summary>Every tensor a GPT-2 of this config must have, by HF name (prefix stripped), with its HF shape.</summary>
    public static IReadOnlyDictionary<string, long[]> ExpectedHfShapes(GptConfig config)
    {
        long v = config.VocabSize, t = config.ContextLength, d = config.DModel, m = config.DMlp;
        var shapes = new Dictionary<string, long[]>
        {
            ["wte.weight"] = [v, d], ["wpe.weight"] = [t, d], ["ln_f.weight"] = [d], ["ln_f.bias"] = [d],
        };
        for (int l = 0; l < config.NLayers; l++)
        {
            var p = $"h.{l}.";
            shapes[p + "ln_1.weight"] = [d]; shapes[p + "ln_1.bias"] = [d];
            shapes[p + "attn.c_attn.weight"] = [d, 3 * d]; shapes[p + "attn.c_attn.bias"] = [3 * d];
            shapes[p + "attn.c_proj.weight"] = [d, d]; shapes[p + "attn.c_proj.bias"] = [d];
            shapes[p + "ln_2.weight"] = [d]; shapes[p + "ln_2.bias"] = [d];
            shapes[p + "mlp.c_fc.weight"] = [d, m]; shapes[p + "mlp.c_fc.bias"] = [m];
            shapes[p + "mlp.c_proj.weight"] = [m, d]; shapes[p + "mlp.c_proj.bias"] = [d];
        }
        if (!config.TiedEmbeddings) shapes["lm_head.weight"] = [v, d];
        return shapes;
    }

    /// <summary>
    /// Renames and transposes HF tensors into this model's names and layout (float32). Every expected
    /// tensor must be present with its HF shape; unknown tensors are refused (a wrong n_layer, say,
    /// must not load silently). The result holds new tensors where a conversion or transpose was
    /// needed and the input tensors otherwise.
    /// </summary>
    public static Dictionary<string, Tensor> ToEvolutionStateDict(IReadOnlyDictionary<string, Tensor> hf, GptConfig config, string sourceFile)
    {
        var expected = ExpectedHfShapes(config);
        var byName = new Dictionary<string, (string RawName, Tensor Tensor)>();
        foreach (var (rawName, value) in hf)
        {
            var name = rawName.StartsWith(Prefix, StringComparison.Ordinal) ? rawName[Prefix.Length..] : rawName;
            if (IsMaskBuffer(name)) continue;
            if (name == "lm_head.weight" && config.TiedEmbeddings) continue; // HF may save the tied copy; wte is the one used
            if (!expected.ContainsKey(name))
                throw new CheckpointFormatException(sourceFile, rawName, $"unexpected tensor for a GPT-2 with n_layer={config.NLayers} (expected names like h.0.attn.c_attn.weight, optionally prefixed '{Prefix}')");
            if (!byName.TryAdd(name, (rawName, value)))
                throw new CheckpointFormatException(sourceFile, rawName, $"present both with and without the '{Prefix}' prefix");
        }

        var result = new Dictionary<string, Tensor>();
        try
        {
            foreach (var (name, shape) in expected)
            {
                if (!byName.TryGetValue(name, out var found))
                    throw new CheckpointFormatException(sourceFile, name, $"tensor missing (expected shape {Show(shape)})");
                var (rawName, value) = found;
                if (!value.shape.SequenceEqual(shape))
                    throw new CheckpointFormatException(sourceFile, rawName, $"expected shape {Show(shape)}{(IsConv1D(name) ? " (HF Conv1D layout [in, out])" : "")}, found {Show(value.shape)}");
                if (!value.is_floating_point())
                    throw new CheckpointFormatException(sourceFile, rawName, $"expected floating-point weights, found {value.dtype}");

                var tensor = value.dtype == ScalarType.Float32 ? value : value.to(ScalarType.Float32);
                if (IsConv1D(name))
                {
                    var transposed = tensor.t().contiguous();
                    if (!ReferenceEquals(tensor, value)) tensor.Dispose();
                    tensor = transposed;
                }
                result[name.StartsWith("h.", StringComparison.Ordinal) ? "blocks." + name[2..] : name] = tensor;
            }
        }
        catch
        {
            foreach (var t in result.Values.Where(t => !hf.Values.Any(h => ReferenceEquals(h, t)))) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Loads the folder's GPT-2 onto <paramref name="device"/>, requiring every tensor with the right shape.</summary>
    public static Gpt Load(string directory, Device device)
    {
        var config = ReadConfig(directory);
        var weightsPath = Path.Combine(directory, Checkpoint.WeightsFile);
        // The mask buffers are never used: skip reading them (12 × 4 MB in GPT-2 small's float32 file).
        var hf = SafeTensors.Load(weightsPath, CPU, name => !IsMaskBuffer(name));
        try
        {
            var stateDict = ToEvolutionStateDict(hf, config, weightsPath);
            var model = new Gpt(config);
            Checkpoint.LoadWeights(model, stateDict, weightsPath); // copies, then disposes stateDict's tensors
            model.to(device);
            model.eval();
            return model;
        }
        finally
        {
            foreach (var t in hf.Values) t.Dispose();
        }
    }

    static bool IsMaskBuffer(string name) =>
        name.EndsWith(".attn.bias", StringComparison.Ordinal) || name.EndsWith(".attn.masked_bias", StringComparison.Ordinal);

    static bool IsConv1D(string name) => Conv1DWeights.Any(suffix => name.EndsWith(suffix, StringComparison.Ordinal));

    static string Show(IEnumerable<long> shape) => $"[{string.Join(", ", shape)}]";
}
