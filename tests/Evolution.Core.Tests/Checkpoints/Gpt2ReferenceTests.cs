using System.Text.Json;
using Evolution.Core.Checkpoints;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Checkpoints;

/// <summary>
/// A Hugging Face-layout GPT-2 (Conv1D [in, out] weights, optional "transformer." prefix, mask
/// buffers) written by the test must load and give the logits of an independent reference
/// forward pass written here in plain double arithmetic from the HF tensors.
/// </summary>
public class Gpt2ReferenceTests
{
    const int V = 300, T = 16, D = 16, L = 2, H = 2, M = 4 * D;
    static readonly int[] Tokens = [3, 17, 242, 0, 9, 9, 25, 299, 1, 130, 7, 7, 12, 48, 220, 2]; // a full context

    static Dictionary<string, Tensor> RandomHfWeights(string prefix, int seed, bool untiedHead = false)
    {
        using var generator = new Generator((ulong)seed, CPU);
        Tensor R(params long[] shape) => randn(shape, generator: generator);
        using var tenth = 0.1.ToScalar();
        using var fifth = 0.2.ToScalar();
        var w = new Dictionary<string, Tensor>
        {
            [prefix + "wte.weight"] = R(V, D).mul(tenth),
            [prefix + "wpe.weight"] = R(T, D).mul(tenth),
            [prefix + "ln_f.weight"] = R(D).mul(tenth).add(Scalars.One, Scalars.One),
            [prefix + "ln_f.bias"] = R(D).mul(tenth),
        };
        for (int l = 0; l < L; l++)
        {
            var p = $"{prefix}h.{l}.";
            w[p + "ln_1.weight"] = R(D).mul(tenth).add(Scalars.One, Scalars.One); w[p + "ln_1.bias"] = R(D).mul(tenth);
            w[p + "ln_2.weight"] = R(D).mul(tenth).add(Scalars.One, Scalars.One); w[p + "ln_2.bias"] = R(D).mul(tenth);
            w[p + "attn.c_attn.weight"] = R(D, 3 * D).mul(fifth); w[p + "attn.c_attn.bias"] = R(3 * D).mul(tenth);
            w[p + "attn.c_proj.weight"] = R(D, D).mul(fifth); w[p + "attn.c_proj.bias"] = R(D).mul(tenth);
            w[p + "mlp.c_fc.weight"] = R(D, M).mul(fifth); w[p + "mlp.c_fc.bias"] = R(M).mul(tenth);
            w[p + "mlp.c_proj.weight"] = R(M, D).mul(fifth); w[p + "mlp.c_proj.bias"] = R(D).mul(tenth);
            w[p + "attn.bias"] = ones(T, T).tril().view(1, 1, T, T); // HF's causal-mask buffers, to be ignored
            w[p + "attn.masked_bias"] = tensor(-1e4f);
        }
        // HF's GPT2LMHeadModel names its head without the "transformer." prefix.
        if (untiedHead) w["lm_head.weight"] = R(V, D).mul(tenth);
        return w;
    }

    static string WriteHfFolder(Dictionary<string, Tensor> weights, bool tied = true, object? config = null)
    {
        var dir = Directory.CreateTempSubdirectory("gpt2").FullName;
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(config ?? new
        {
            model_type = "gpt2", vocab_size = V, n_positions = T, n_embd = D, n_layer = L, n_head = H,
            n_inner = (int?)null, layer_norm_epsilon = 1e-5, activation_function = "gelu_new", tie_word_embeddings = tied,
        }));
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), weights, new Dictionary<string, string> { ["format"] = "pt" });
        Text.Gpt2TokenizerTests.WriteByteLevelVocab(dir);
        return dir;
    }

    [Theory]
    [InlineData("transformer.")]
    [InlineData("")]
    public void LoadedCheckpointReproducesReferenceLogits(string prefix)
    {
        var weights = RandomHfWeights(prefix, seed: 11);
        using var model = HfGpt2.Load(WriteHfFolder(weights), CPU);
        AssertMatchesReference(model, weights, prefix);
    }

    [Fact]
    public void UntiedHeadIsLoadedAndUsed()
    {
        var weights = RandomHfWeights("transformer.", seed: 5, untiedHead: true);
        using var model = HfGpt2.Load(WriteHfFolder(weights, tied: false), CPU);
        Assert.False(model.Config.TiedEmbeddings);
        AssertMatchesReference(model, weights, "transformer.");
    }

    [Fact]
    public void HalfPrecisionCheckpointIsConvertedToFloat32()
    {
        var weights = RandomHfWeights("", seed: 3).ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.Float16));
        using var model = HfGpt2.Load(WriteHfFolder(weights), CPU);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        AssertMatchesReference(model, weights, ""); // the reference reads the same half values
    }

    [Fact]
    public void CheckpointLoadRecognisesAHuggingFaceFolder()
    {
        var (model, tokenizer) = Checkpoint.Load(WriteHfFolder(RandomHfWeights("", seed: 4)));
        Assert.IsType<Gpt2Tokenizer>(tokenizer);
        Assert.Equal(V, model.Config.VocabSize);
        Assert.True(tokenizer.VocabSize <= V);
    }

    [Fact]
    public void MisshapenMissingOrUnexpectedTensorsAreNamed()
    {
        var weights = RandomHfWeights("transformer.", seed: 2);
        weights["transformer.h.1.mlp.c_fc.weight"] = randn(D, M + 1);
        var error = Assert.Throws<CheckpointFormatException>(() => HfGpt2.Load(WriteHfFolder(weights), CPU));
        Assert.Contains("transformer.h.1.mlp.c_fc.weight", error.Message);
        Assert.Contains("model.safetensors", error.Message);
        Assert.Contains($"expected shape [{D}, {M}]", error.Message);
        Assert.Contains($"found [{D}, {M + 1}]", error.Message);

        weights = RandomHfWeights("", seed: 2);
        weights.Remove("ln_f.bias");
        error = Assert.Throws<CheckpointFormatException>(() => HfGpt2.Load(WriteHfFolder(weights), CPU));
        Assert.Contains("'ln_f.bias'", error.Message);
        Assert.Contains("missing", error.Message);

        weights = RandomHfWeights("", seed: 2);
        weights["h.2.ln_1.weight"] = ones(D); // a third layer in a 2-layer config
        error = Assert.Throws<CheckpointFormatException>(() => HfGpt2.Load(WriteHfFolder(weights), CPU));
        Assert.Contains("h.2.ln_1.weight", error.Message);
        Assert.Contains("unexpected", error.Message);

        weights = RandomHfWeights("", seed: 2); // untied config without lm_head.weight
        error = Assert.Throws<CheckpointFormatException>(() => HfGpt2.Load(WriteHfFolder(weights, tied: false), CPU));
        Assert.Contains("lm_head.weight", error.Message);
    }

    [Fact]
    public void ConfigReadsHfFieldsAndNamesBadOnes()
    {
        var dir = WriteHfFolder(RandomHfWeights("", 1), config: new
        {
            vocab_size = V, n_ctx = T, n_embd = D, n_layer = L, n_head = H, n_inner = 40,
            layer_norm_epsilon = 1e-6, activation_function = "gelu_pytorch_tanh",
        });
        var config = HfGpt2.ReadConfig(dir);
        Assert.Equal((V, T, D, L, H, 40, 1e-6, true, "gelu_new"),
            (config.VocabSize, config.ContextLength, config.DModel, config.NLayers, config.NHeads, config.DMlp, config.LayerNormEps, config.TiedEmbeddings, config.Activation));

        var missing = WriteHfFolder(RandomHfWeights("", 1), config: new { vocab_size = V, n_positions = T, n_layer = L, n_head = H });
        var error = Assert.Throws<InputException>(() => HfGpt2.ReadConfig(missing));
        Assert.Contains("config.json", error.Message);
        Assert.Contains("'n_embd'", error.Message);

        var wrongType = WriteHfFolder(RandomHfWeights("", 1), config: new { vocab_size = V, n_positions = T, n_embd = D, n_layer = L, n_head = H, tie_word_embeddings = "yes" });
        error = Assert.Throws<InputException>(() => HfGpt2.ReadConfig(wrongType));
        Assert.Contains("'tie_word_embeddings'", error.Message);
    }

    static void AssertMatchesReference(Gpt model, Dictionary<string, Tensor> weights, string prefix) =>
        ReferenceLogits.AssertMatch(model, Tokens, ReferenceForward(weights, prefix, Tokens));

    // ---- reference GPT-2 in doubles, straight from the HF tensors (Conv1D layout: y = x·W + b, W [in, out]) ----

    static double[][] ReferenceForward(Dictionary<string, Tensor> w, string prefix, int[] tokens)
    {
        double[,] M2(string name) => ReferenceLogits.Matrix(w[name]);
        double[] V1(string name) => w[prefix + name].to(ScalarType.Float64).data<double>().ToArray();
        int n = tokens.Length, dh = D / H;
        var wte = M2(prefix + "wte.weight");
        var wpe = M2(prefix + "wpe.weight");
        var unembed = w.ContainsKey("lm_head.weight") ? M2("lm_head.weight") : wte;

        var x = new double[n][];
        for (int t = 0; t < n; t++) x[t] = Enumerable.Range(0, D).Select(d => wte[tokens[t], d] + wpe[t, d]).ToArray();
        for (int l = 0; l < L; l++)
        {
            var p = $"h.{l}.";
            var cAttn = M2(prefix + p + "attn.c_attn.weight");
            var qkv = x.Select(row => Affine(LayerNorm(row, V1(p + "ln_1.weight"), V1(p + "ln_1.bias")), cAttn, V1(p + "attn.c_attn.bias"))).ToArray();
            // q, k, v are the three D-wide thirds of c_attn's output; head h uses columns h·dh .. (h+1)·dh of each.
            var z = new double[n][];
            for (int t = 0; t < n; t++) z[t] = new double[D];
            for (int h = 0; h < H; h++)
                for (int t = 0; t < n; t++)
                {
                    var scores = new double[t + 1]; // causal: position t sees 0..t
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int d = 0; d < dh; d++) dot += qkv[t][h * dh + d] * qkv[s][D + h * dh + d];
                        scores[s] = dot / Math.Sqrt(dh);
                    }
                    double max = scores.Max(), sum = scores.Sum(sc => Math.Exp(sc - max));
                    for (int s = 0; s <= t; s++)
                        for (int d = 0; d < dh; d++) z[t][h * dh + d] += Math.Exp(scores[s] - max) / sum * qkv[s][2 * D + h * dh + d];
                }
            var cProj = M2(prefix + p + "attn.c_proj.weight");
            var cFc = M2(prefix + p + "mlp.c_fc.weight");
            var mlpProj = M2(prefix + p + "mlp.c_proj.weight");
            for (int t = 0; t < n; t++)
            {
                var attnOut = Affine(z[t], cProj, V1(p + "attn.c_proj.bias"));
                for (int d = 0; d < D; d++) x[t][d] += attnOut[d];
                var hidden = Affine(LayerNorm(x[t], V1(p + "ln_2.weight"), V1(p + "ln_2.bias")), cFc, V1(p + "mlp.c_fc.bias")).Select(GeluNew).ToArray();
                var mlpOut = Affine(hidden, mlpProj, V1(p + "mlp.c_proj.bias"));
                for (int d = 0; d < D; d++) x[t][d] += mlpOut[d];
            }
        }
        return x.Select(row =>
        {
            var final = LayerNorm(row, V1("ln_f.weight"), V1("ln_f.bias"));
            return Enumerable.Range(0, V).Select(v => Enumerable.Range(0, D).Sum(d => final[d] * unembed[v, d])).ToArray();
        }).ToArray();
    }

    /// <summary>GPT-2's tanh approximation of GELU (HF "gelu_new").</summary>
    static double GeluNew(double u) => 0.5 * u * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u)));

    static double[] LayerNorm(double[] x, double[] gain, double[] bias)
    {
        double mean = x.Average(), variance = x.Average(v => (v - mean) * (v - mean)); // biased variance, as torch
        return x.Select((v, i) => (v - mean) / Math.Sqrt(variance + 1e-5) * gain[i] + bias[i]).ToArray();
    }

    static double[] Affine(double[] x, double[,] w, double[] b) =>
        Enumerable.Range(0, w.GetLength(1)).Select(o => b[o] + Enumerable.Range(0, x.Length).Sum(i => x[i] * w[i, o])).ToArray();
}
