using System.Text.Json;
using Evolution.Core.Checkpoints;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Checkpoints;

/// <summary>
/// Hugging Face Llama-family folders (Llama with grouped-query attention, an untied head and Llama 3 rope scaling; Qwen2
/// with q/k/v biases and tied embeddings; Mistral with a sliding window; BF16 and sharded variants) written by the test
/// must load and give the logits of an independent reference forward written here in plain double arithmetic from the
/// HF tensors and HF's formulas (RMSNorm, rotate-half RoPE, repeat_kv, SwiGLU).
/// </summary>
public class LlamaReferenceTests
{
    const int V = 40, T = 16, D = 16, L = 2, M = 24;
    static readonly int[] Tokens = [3, 17, 39, 0, 9, 9, 25, 38, 1, 13, 7, 7, 12];

    /// <summary>The architecture of one test model: heads, kv heads, biases, tying, rope.</summary>
    sealed record Architecture(string ModelType, int Heads, int KvHeads, bool QkvBias, bool OutBias, bool Tied, double Theta, object? RopeScaling = null, int? SlidingWindow = null)
    {
        public int DHead => D / Heads;
    }

    static readonly Architecture LlamaGqa = new("llama", Heads: 4, KvHeads: 2, QkvBias: false, OutBias: false, Tied: false, Theta: 500_000,
        RopeScaling: new { rope_type = "llama3", factor = 8.0, low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 8 });
    static readonly Architecture Qwen2 = new("qwen2", Heads: 2, KvHeads: 1, QkvBias: true, OutBias: false, Tied: true, Theta: 1_000_000);
    static readonly Architecture Mistral = new("mistral", Heads: 4, KvHeads: 4, QkvBias: false, OutBias: false, Tied: false, Theta: 10_000, SlidingWindow: 14);

    static Dictionary<string, Tensor> RandomHfWeights(Architecture a, int seed, int vocab = V)
    {
        using var generator = new Generator((ulong)seed, CPU);
        using var scale = 0.3.ToScalar();
        Tensor R(params long[] shape) => randn(shape, generator: generator).mul(scale);
        Tensor Gain() => R(D).add(Scalars.One, Scalars.One);
        long q = a.Heads * a.DHead, kv = a.KvHeads * a.DHead;
        var w = new Dictionary<string, Tensor> { ["model.embed_tokens.weight"] = R(vocab, D), ["model.norm.weight"] = Gain() };
        if (!a.Tied) w["lm_head.weight"] = R(vocab, D);
        for (int l = 0; l < L; l++)
        {
            var p = $"model.layers.{l}.";
            w[p + "input_layernorm.weight"] = Gain();
            w[p + "post_attention_layernorm.weight"] = Gain();
            w[p + "self_attn.q_proj.weight"] = R(q, D);
            w[p + "self_attn.k_proj.weight"] = R(kv, D);
            w[p + "self_attn.v_proj.weight"] = R(kv, D);
            w[p + "self_attn.o_proj.weight"] = R(D, q);
            if (a.QkvBias) { w[p + "self_attn.q_proj.bias"] = R(q); w[p + "self_attn.k_proj.bias"] = R(kv); w[p + "self_attn.v_proj.bias"] = R(kv); }
            if (a.OutBias) w[p + "self_attn.o_proj.bias"] = R(D);
            w[p + "mlp.gate_proj.weight"] = R(M, D);
            w[p + "mlp.up_proj.weight"] = R(M, D);
            w[p + "mlp.down_proj.weight"] = R(D, M);
        }
        return w;
    }

    static Dictionary<string, object?> HfConfigOf(Architecture a) => new()
    {
        ["model_type"] = a.ModelType, ["vocab_size"] = V, ["hidden_size"] = D, ["intermediate_size"] = M, ["num_hidden_layers"] = L,
        ["num_attention_heads"] = a.Heads, ["num_key_value_heads"] = a.KvHeads, ["max_position_embeddings"] = T, ["rms_norm_eps"] = 1e-6,
        ["rope_theta"] = a.Theta, ["rope_scaling"] = a.RopeScaling, ["tie_word_embeddings"] = a.Tied, ["hidden_act"] = "silu",
        ["attention_bias"] = a.ModelType == "llama" && a.OutBias, ["sliding_window"] = a.SlidingWindow, ["torch_dtype"] = "float32",
    };

    /// <summary>Writes config.json and the weights, in one file or in <paramref name="shards"/> shards with an index.</summary>
    internal static string WriteFolder(Dictionary<string, Tensor> weights, Dictionary<string, object?> config, int shards = 1)
    {
        var dir = Directory.CreateTempSubdirectory("llama").FullName;
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(config));
        if (shards == 1)
        {
            SafeTensors.Save(Path.Combine(dir, "model.safetensors"), weights, new Dictionary<string, string> { ["format"] = "pt" });
            return dir;
        }
        var names = weights.Keys.Order(StringComparer.Ordinal).ToList();
        var map = new Dictionary<string, string>();
        for (int s = 0; s < shards; s++)
        {
            var file = $"model-{s + 1:00000}-of-{shards:00000}.safetensors";
            var part = names.Where((_, i) => i % shards == s).ToList();
            SafeTensors.Save(Path.Combine(dir, file), part.Select(n => KeyValuePair.Create(n, weights[n])));
            foreach (var n in part) map[n] = file;
        }
        File.WriteAllText(Path.Combine(dir, HfWeights.IndexFile), JsonSerializer.Serialize(new { metadata = new { total_size = 0 }, weight_map = map }));
        return dir;
    }

    [Fact]
    public void LlamaWithGroupedQueryAttentionUntiedHeadAndLlama3RopeMatchesReference()
    {
        var weights = RandomHfWeights(LlamaGqa, seed: 1);
        using var model = HfLlama.Load(WriteFolder(weights, HfConfigOf(LlamaGqa)), CPU);
        Assert.Equal((4, 2, false, true), (model.Config.NHeads, model.Config.KeyValueHeads, model.Config.TiedEmbeddings, model.Config.GatedMlp));
        Assert.NotNull(model.Config.RopeScaling);
        AssertMatchesReference(model, weights, LlamaGqa);
    }

    [Fact]
    public void Qwen2WithQkvBiasesAndTiedEmbeddingsMatchesReference()
    {
        var weights = RandomHfWeights(Qwen2, seed: 2);
        var folder = WriteFolder(weights.Append(KeyValuePair.Create("lm_head.weight", weights["model.embed_tokens.weight"].clone())).ToDictionary(), HfConfigOf(Qwen2));
        using var model = HfLlama.Load(folder, CPU); // the tied head's saved copy is ignored, as HF does
        Assert.True(model.Config.QkvBias);
        Assert.False(model.Config.AttentionOutBias);
        AssertMatchesReference(model, weights, Qwen2);
    }

    [Fact]
    public void MistralSlidingWindowCapsTheContextAndMatchesReference()
    {
        var weights = RandomHfWeights(Mistral, seed: 3);
        using var model = HfLlama.Load(WriteFolder(weights, HfConfigOf(Mistral)), CPU);
        Assert.Equal(14, model.Config.ContextLength); // beyond the window, sliding attention would differ from full attention
        AssertMatchesReference(model, weights, Mistral);
    }

    [Fact]
    public void Bfloat16ShardedCheckpointIsWidenedToFloat32()
    {
        var weights = RandomHfWeights(LlamaGqa, seed: 4).ToDictionary(kv => kv.Key, kv => kv.Value.to(ScalarType.BFloat16));
        using var model = HfLlama.Load(WriteFolder(weights, HfConfigOf(LlamaGqa), shards: 3), CPU);
        Assert.All(model.parameters(), p => Assert.Equal(ScalarType.Float32, p.dtype));
        AssertMatchesReference(model, weights, LlamaGqa); // the reference reads the same bf16 values
    }

    [Theory]
    [InlineData(Text.HfTokenizerTests.Variant.Llama3, "<|begin_of_text|>")]
    [InlineData(Text.HfTokenizerTests.Variant.Qwen2, "<|im_end|>")] // no BOS: prompts start with its end-of-text token, as TransformerLens does
    public void CheckpointLoadOpensALlamaFamilyFolderWithItsTokenizer(Text.HfTokenizerTests.Variant variant, string startToken)
    {
        var dir = Text.HfTokenizerTests.WriteToyFolder(variant);
        var tokenizer = Evolution.Core.Text.HfTokenizers.Load(dir);
        var architecture = variant == Text.HfTokenizerTests.Variant.Llama3 ? LlamaGqa : Qwen2;
        var config = HfConfigOf(architecture);
        config["vocab_size"] = tokenizer.VocabSize + 3; // HF pads embedding tables beyond the tokenizer's ids
        var weights = RandomHfWeights(architecture, seed: 8, vocab: tokenizer.VocabSize + 3);
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(config));
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), weights);

        var (model, loaded) = Checkpoint.Load(dir);
        using var _ = model;
        Assert.Equal(architecture.ModelType, model.Config.ModelType);
        Assert.Equal(loaded.Encode(startToken).Single(), loaded.StartOfSequence);
        Assert.Equal(tokenizer.Encode("hello world"), loaded.Encode("hello world"));
        using var input = tensor(new long[] { loaded.StartOfSequence }.Concat(loaded.Encode("hello world").Select(i => (long)i)).ToArray(), [1, 3]);
        using var logits = model.forward(input);
        Assert.Equal(new long[] { 1, 3, tokenizer.VocabSize + 3 }, logits.shape);
    }

    [Fact]
    public void MissingUnexpectedOrMisshapenTensorsAreNamed()
    {
        var weights = RandomHfWeights(LlamaGqa, seed: 5);
        weights["model.layers.1.self_attn.k_proj.weight"] = randn(D, D); // a full-width k in a GQA model
        var error = Assert.Throws<CheckpointFormatException>(() => HfLlama.Load(WriteFolder(weights, HfConfigOf(LlamaGqa)), CPU));
        Assert.Contains("model.layers.1.self_attn.k_proj.weight", error.Message);
        Assert.Contains($"expected shape [8, {D}], found [{D}, {D}]", error.Message);

        weights = RandomHfWeights(LlamaGqa, seed: 5);
        weights.Remove("model.layers.0.mlp.up_proj.weight");
        error = Assert.Throws<CheckpointFormatException>(() => HfLlama.Load(WriteFolder(weights, HfConfigOf(LlamaGqa), shards: 2), CPU));
        Assert.Contains("'model.layers.0.mlp.up_proj.weight'", error.Message);
        Assert.Contains("missing", error.Message);

        weights = RandomHfWeights(LlamaGqa, seed: 5);
        weights["model.layers.0.self_attn.q_proj.bias"] = randn(D); // llama without attention_bias
        error = Assert.Throws<CheckpointFormatException>(() => HfLlama.Load(WriteFolder(weights, HfConfigOf(LlamaGqa)), CPU));
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", error.Message);
        Assert.Contains("unexpected", error.Message);
    }

    [Fact]
    public void ShardIndexNamingAnAbsentShardIsRefused()
    {
        var dir = WriteFolder(RandomHfWeights(LlamaGqa, seed: 6), HfConfigOf(LlamaGqa), shards: 2);
        File.Delete(Path.Combine(dir, "model-00002-of-00002.safetensors"));
        var error = Assert.Throws<InputException>(() => HfLlama.Load(dir, CPU));
        Assert.Contains(HfWeights.IndexFile, error.Message);
        Assert.Contains("model-00002-of-00002.safetensors", error.Message);
    }

    [Fact]
    public void ConfigErrorsNameTheField()
    {
        var weights = RandomHfWeights(LlamaGqa, seed: 7);
        var config = HfConfigOf(LlamaGqa);
        config["num_key_value_heads"] = 3;
        var error = Assert.Throws<InputException>(() => HfLlama.Load(WriteFolder(weights, config), CPU));
        Assert.Contains("'n_kv_head'", error.Message);
        Assert.Contains("config.json", error.Message);

        config = HfConfigOf(LlamaGqa);
        config["rope_scaling"] = new { rope_type = "yarn", factor = 4.0 };
        error = Assert.Throws<InputException>(() => HfLlama.ReadConfig(WriteFolder(weights, config)));
        Assert.Contains("'rope_scaling.rope_type'", error.Message);
        Assert.Contains("yarn", error.Message);

        config = HfConfigOf(LlamaGqa);
        config["model_type"] = "gemma";
        error = Assert.Throws<InputException>(() => HfLlama.ReadConfig(WriteFolder(weights, config)));
        Assert.Contains("'model_type'", error.Message);
        Assert.Contains("gemma", error.Message);
    }

    static void AssertMatchesReference(Gpt model, Dictionary<string, Tensor> weights, Architecture a) =>
        ReferenceLogits.AssertMatch(model, Tokens, ReferenceForward(weights, a, Tokens));

    // ---- reference Llama-family forward in doubles, from the HF tensors (torch Linear layout: y = W·x + b, W [out, in]) ----

    static double[][] ReferenceForward(Dictionary<string, Tensor> w, Architecture a, int[] tokens)
    {
        double[,] M2(string name) => ReferenceLogits.Matrix(w[name]);
        double[] V1(string name) => w[name].to(ScalarType.Float64).data<double>().ToArray();
        double[]? Bias(string name) => w.ContainsKey(name) ? V1(name) : null;
        int n = tokens.Length, dh = a.DHead, group = a.Heads / a.KvHeads;
        var embed = M2("model.embed_tokens.weight");
        var unembed = a.Tied ? embed : M2("lm_head.weight");
        var frequencies = RopeFrequencies(a, dh);

        var x = tokens.Select(t => Enumerable.Range(0, D).Select(d => embed[t, d]).ToArray()).ToArray();
        for (int l = 0; l < L; l++)
        {
            var p = $"model.layers.{l}.self_attn.";
            var normed = x.Select(row => RmsNorm(row, V1($"model.layers.{l}.input_layernorm.weight"))).ToArray();
            double[][] Project(string name) => normed.Select(row => Linear(row, M2(p + name + ".weight"), Bias(p + name + ".bias"))).ToArray();
            var (q, k, v) = (Project("q_proj"), Project("k_proj"), Project("v_proj"));
            for (int t = 0; t < n; t++)
            {
                for (int h = 0; h < a.Heads; h++) Rotate(q[t], h * dh, dh, t, frequencies);
                for (int h = 0; h < a.KvHeads; h++) Rotate(k[t], h * dh, dh, t, frequencies);
            }
            var z = new double[n][];
            for (int t = 0; t < n; t++)
            {
                z[t] = new double[a.Heads * dh];
                for (int h = 0; h < a.Heads; h++)
                {
                    int g = h / group; // repeat_kv: kv head g serves query heads g·group .. g·group + group − 1
                    var scores = new double[t + 1];
                    for (int s = 0; s <= t; s++)
                    {
                        double dot = 0;
                        for (int d = 0; d < dh; d++) dot += q[t][h * dh + d] * k[s][g * dh + d];
                        scores[s] = dot / Math.Sqrt(dh);
                    }
                    double max = scores.Max(), sum = scores.Sum(sc => Math.Exp(sc - max));
                    for (int s = 0; s <= t; s++)
                        for (int d = 0; d < dh; d++) z[t][h * dh + d] += Math.Exp(scores[s] - max) / sum * v[s][g * dh + d];
                }
            }
            var mp = $"model.layers.{l}.mlp.";
            for (int t = 0; t < n; t++)
            {
                var attnOut = Linear(z[t], M2(p + "o_proj.weight"), Bias(p + "o_proj.bias"));
                for (int d = 0; d < D; d++) x[t][d] += attnOut[d];
                var h2 = RmsNorm(x[t], V1($"model.layers.{l}.post_attention_layernorm.weight"));
                var gate = Linear(h2, M2(mp + "gate_proj.weight"), null);
                var up = Linear(h2, M2(mp + "up_proj.weight"), null);
                var hidden = gate.Select((g, i) => g / (1 + Math.Exp(-g)) * up[i]).ToArray(); // SiLU(gate) ⊙ up
                var mlpOut = Linear(hidden, M2(mp + "down_proj.weight"), null);
                for (int d = 0; d < D; d++) x[t][d] += mlpOut[d];
            }
        }
        return x.Select(row =>
        {
            var final = RmsNorm(row, V1("model.norm.weight"));
            return Enumerable.Range(0, V).Select(v => Enumerable.Range(0, D).Sum(d => final[d] * unembed[v, d])).ToArray();
        }).ToArray();
    }

    /// <summary>inv_freq of HF's LlamaRotaryEmbedding, with _compute_llama3_parameters when the config scales it.</summary>
    static double[] RopeFrequencies(Architecture a, int dh)
    {
        var inv = Enumerable.Range(0, dh / 2).Select(i => 1 / Math.Pow(a.Theta, 2.0 * i / dh)).ToArray();
        if (a.RopeScaling is null) return inv;
        const double factor = 8, low = 1, high = 4, original = 8; // as LlamaGqa's rope_scaling
        return inv.Select(f =>
        {
            double wavelength = 2 * Math.PI / f;
            if (wavelength < original / high) return f;
            if (wavelength > original / low) return f / factor;
            double smooth = (original / wavelength - low) / (high - low);
            return (1 - smooth) * f / factor + smooth * f;
        }).ToArray();
    }

    /// <summary>Rotate-half RoPE on one head's slice: x' = x·cos(tω) + rotate_half(x)·sin(tω), rotate_half([a, b]) = [−b, a].</summary>
    static void Rotate(double[] vector, int offset, int dh, int position, double[] frequencies)
    {
        var original = vector.Skip(offset).Take(dh).ToArray();
        for (int i = 0; i < dh; i++)
        {
            double angle = position * frequencies[i % (dh / 2)];
            double rotated = i < dh / 2 ? -original[i + dh / 2] : original[i - dh / 2];
            vector[offset + i] = original[i] * Math.Cos(angle) + rotated * Math.Sin(angle);
        }
    }

    static double[] RmsNorm(double[] x, double[] gain)
    {
        double rms = Math.Sqrt(x.Average(v => v * v) + 1e-6);
        return x.Select((v, i) => v / rms * gain[i]).ToArray();
    }

    static double[] Linear(double[] x, double[,] w, double[]? b) =>
        Enumerable.Range(0, w.GetLength(0)).Select(o => (b?[o] ?? 0) + Enumerable.Range(0, x.Length).Sum(i => w[o, i] * x[i])).ToArray();
}
