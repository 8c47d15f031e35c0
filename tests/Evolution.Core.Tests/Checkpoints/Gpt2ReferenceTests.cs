using System.Text.Json;
using Evolution.Core.Checkpoints;
using Evolution.Core.Model;
using Evolution.Core.Text;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Checkpoints;

/// <summary>
/// A Hugging Face-layout GPT-2 (Conv1D [in, out] weights, optional "transformer." prefix, mask
/// buffers) written by the test must load and give the logits of an independent reference
/// forward pass written here in plain double arithmetic from the HF tensors.
/// </summary>
public class Gpt2ReferenceTests
{
    const int V = 50, T = 16, D = 16, L = 2, H = 2, M = 4 * D;

    static Dictionary<string, Tensor> RandomHfWeights(string prefix, int seed)
    {
        manual_seed(seed);
        var w = new Dictionary<string, Tensor>
        {
            [prefix + "wte.weight"] = randn(V, D) * 0.1,
            [prefix + "wpe.weight"] = randn(T, D) * 0.1,
            [prefix + "ln_f.weight"] = 1 + randn(D) * 0.1,
            [prefix + "ln_f.bias"] = randn(D) * 0.1,
        };
        for (int l = 0; l < L; l++)
        {
            var p = $"{prefix}h.{l}.";
            w[p + "ln_1.weight"] = 1 + randn(D) * 0.1; w[p + "ln_1.bias"] = randn(D) * 0.1;
            w[p + "ln_2.weight"] = 1 + randn(D) * 0.1; w[p + "ln_2.bias"] = randn(D) * 0.1;
            w[p + "attn.c_attn.weight"] = randn(D, 3 * D) * 0.2; w[p + "attn.c_attn.bias"] = randn(3 * D) * 0.1;
            w[p + "attn.c_proj.weight"] = randn(D, D) * 0.2; w[p + "attn.c_proj.bias"] = randn(D) * 0.1;
            w[p + "mlp.c_fc.weight"] = randn(D, M) * 0.2; w[p + "mlp.c_fc.bias"] = randn(M) * 0.1;
            w[p + "mlp.c_proj.weight"] = randn(M, D) * 0.2; w[p + "mlp.c_proj.bias"] = randn(D) * 0.1;
            w[p + "attn.bias"] = ones(1, 1, T, T).tril().view(1, 1, T, T); // HF's causal-mask buffer
        }
        return w;
    }

    static string WriteHfFolder(Dictionary<string, Tensor> weights)
    {
        var dir = Directory.CreateTempSubdirectory("gpt2").FullName;
        File.WriteAllText(Path.Combine(dir, "config.json"), JsonSerializer.Serialize(new
        {
            model_type = "gpt2", vocab_size = V, n_positions = T, n_embd = D, n_layer = L, n_head = H,
            n_inner = (int?)null, layer_norm_epsilon = 1e-5, activation_function = "gelu_new",
        }));
        SafeTensors.Save(Path.Combine(dir, "model.safetensors"), weights);
        // A byte-level BPE over a few characters (Ġ is the byte-level space).
        var vocab = new Dictionary<string, int> { ["a"] = 0, ["b"] = 1, ["c"] = 2, ["Ġ"] = 3, ["ab"] = 4, ["Ġab"] = 5, ["<|endoftext|>"] = 6 };
        File.WriteAllText(Path.Combine(dir, "vocab.json"), JsonSerializer.Serialize(vocab));
        File.WriteAllText(Path.Combine(dir, "merges.txt"), "#version: 0.2\na b\nĠ ab\n");
        return dir;
    }

    [Theory]
    [InlineData("transformer.")]
    [InlineData("")]
    public void LoadedCheckpointReproducesReferenceLogits(string prefix)
    {
        var weights = RandomHfWeights(prefix, seed: 11);
        var dir = WriteHfFolder(weights);
        var (model, _) = Checkpoint.Load(dir);
        int[] tokens = [3, 17, 42, 0, 9, 9, 25, 49, 1, 30];
        using var _ = no_grad();
        var ours = model.forward(tensor(tokens.Select(t => (long)t).ToArray(), [1, tokens.Length]))[0];
        var reference = ReferenceForward(weights, prefix, tokens);
        double maxDifference = 0;
        for (int t = 0; t < tokens.Length; t++)
            for (int v = 0; v < V; v++)
                maxDifference = Math.Max(maxDifference, Math.Abs(ours[t, v].item<float>() - reference[t][v]));
        Assert.True(maxDifference < 1e-4, $"max |ours - reference| = {maxDifference}");
    }

    [Fact]
    public void MissingOrMisshapenTensorIsNamed()
    {
        var weights = RandomHfWeights("", seed: 2);
        weights["h.1.mlp.c_fc.weight"] = randn(D, M + 1);
        var error = Assert.Throws<InputException>(() => Checkpoint.Load(WriteHfFolder(weights)));
        Assert.Contains("blocks.1.mlp.c_fc.weight", error.Message);
        Assert.Contains("model.safetensors", error.Message);

        weights = RandomHfWeights("", seed: 2);
        weights.Remove("ln_f.bias");
        error = Assert.Throws<InputException>(() => Checkpoint.Load(WriteHfFolder(weights)));
        Assert.Contains("ln_f.bias", error.Message);
    }

    [Fact]
    public void Gpt2TokenizerUsesByteLevelMerges()
    {
        var tokenizer = Gpt2Tokenizer.Load(WriteHfFolder(RandomHfWeights("", 1)));
        var ids = tokenizer.Encode("ab ab c");
        Assert.Equal(new[] { 4, 5, 3, 2 }, ids);
        Assert.Equal("ab ab c", tokenizer.Decode(ids));
        Assert.Equal(6, tokenizer.EndOfText);
    }

    // ---- reference GPT-2 in doubles, straight from the HF tensors ----

    static double[][] ReferenceForward(Dictionary<string, Tensor> w, string prefix, int[] tokens)
    {
        double[,] M2(string name) { var t = w[prefix + name].to(ScalarType.Float64); var r = new double[t.shape[0], t.shape[1]]; for (int i = 0; i < r.GetLength(0); i++) for (int j = 0; j < r.GetLength(1); j++) r[i, j] = t[i, j].item<double>(); return r; }
        double[] V1(string name) => w[prefix + name].to(ScalarType.Float64).data<double>().ToArray();
        int n = tokens.Length;
        var wte = M2("wte.weight"); var wpe = M2("wpe.weight");
        var x = new double[n][];
        for (int t = 0; t < n; t++) x[t] = Enumerable.Range(0, D).Select(d => wte[tokens[t], d] + wpe[t, d]).ToArray();
        for (int l = 0; l < L; l++)
        {
            var p = $"h.{l}.";
            var a = x.Select(row => LayerNorm(row, V1(p + "ln_1.weight"), V1(p + "ln_1.bias"))).ToArray();
            var qkv = a.Select(row => Affine(row, M2(p + "attn.c_attn.weight"), V1(p + "attn.c_attn.bias"))).ToArray();
            int dh = D / H;
            var z = new double[n][];
            for (int t = 0; t < n; t++) z[t] = new double[D];
            for (int h = 0; h < H; h++)
                for (int t = 0; t < n; t++)
                {
                    var scores = new double[t + 1];
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
            for (int t = 0; t < n; t++)
            {
                var attnOut = Affine(z[t], M2(p + "attn.c_proj.weight"), V1(p + "attn.c_proj.bias"));
                for (int d = 0; d < D; d++) x[t][d] += attnOut[d];
                var hidden = Affine(LayerNorm(x[t], V1(p + "ln_2.weight"), V1(p + "ln_2.bias")), M2(p + "mlp.c_fc.weight"), V1(p + "mlp.c_fc.bias"))
                    .Select(u => 0.5 * u * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (u + 0.044715 * u * u * u)))).ToArray();
                var mlpOut = Affine(hidden, M2(p + "mlp.c_proj.weight"), V1(p + "mlp.c_proj.bias"));
                for (int d = 0; d < D; d++) x[t][d] += mlpOut[d];
            }
        }
        return x.Select(row =>
        {
            var final = LayerNorm(row, V1("ln_f.weight"), V1("ln_f.bias"));
            return Enumerable.Range(0, V).Select(v => Enumerable.Range(0, D).Sum(d => final[d] * wte[v, d])).ToArray();
        }).ToArray();
    }

    static double[] LayerNorm(double[] x, double[] gain, double[] bias)
    {
        double mean = x.Average(), variance = x.Average(v => (v - mean) * (v - mean));
        return x.Select((v, i) => (v - mean) / Math.Sqrt(variance + 1e-5) * gain[i] + bias[i]).ToArray();
    }

    /// <summary>HF Conv1D: y = x·W + b with W as [in, out].</summary>
    static double[] Affine(double[] x, double[,] w, double[] b) =>
        Enumerable.Range(0, w.GetLength(1)).Select(o => b[o] + Enumerable.Range(0, x.Length).Sum(i => x[i] * w[i, o])).ToArray();
}
