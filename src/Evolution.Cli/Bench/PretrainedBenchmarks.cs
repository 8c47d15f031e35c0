using System.Diagnostics;
using System.Text.Json;
using Spectre.Console;
using Evolution.Core;
using Evolution.Core.Checkpoints;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Cli.Bench;

/// <summary>
/// Loading a pretrained Llama-layout checkpoint and running it on the CPU. The bench writes a synthetic one itself: a
/// Hugging Face folder (config.json + BF16 model.safetensors in two shards with an index) of about 500M parameters in
/// Llama's layout (grouped-query attention, SwiGLU, untied head), random weights. The load runs in a fresh child process
/// (this executable, <c>bench --load-checkpoint DIR</c>), so writing the file leaves nothing in the heap it could reuse:
/// its load time, and its peak resident memory (VmHWM) above what it held before loading, against the model's float32
/// size. BF16 weights are widened one tensor at a time into the parameters, so the load should cost little more than
/// the float32 model itself. Then, in this process, forward tokens/s of a 128-token prompt, as a share of the matmul
/// peak measured in the same process.
/// </summary>
public static class PretrainedBenchmarks
{
    public sealed record PretrainedCost(long Parameters, double Float32Gigabytes, double FileGigabytes, double LoadSeconds,
        double LoadPeakGigabytes, double LoadPeakOverFloat32, double ProcessPeakGigabytes, int PromptTokens, double ForwardTokensPerSecond,
        double ForwardFractionOfMatmulPeak);

    /// <summary>What the child process reports: its resident memory before the load, its peak, the load's seconds and the parameters loaded.</summary>
    public sealed record LoadReport(long BeforeBytes, long PeakBytes, double Seconds, long Parameters);

    /// <summary>A Llama-layout shape of about 512M parameters (SmolLM2-360M's width and heads, 40 layers, a 32k vocabulary).</summary>
    public static readonly GptConfig Shape = new GptConfig
    {
        VocabSize = 32_000, ContextLength = 2048, DModel = 1024, NLayers = 40, NHeads = 16, DMlpOverride = 2816,
    }.WithArchitecture("llama") with { KeyValueHeadsOverride = 4 };

    public static PretrainedCost Measure(CoreBenchmarks.MatmulPeak peak, bool quick)
    {
        var folder = Directory.CreateTempSubdirectory("evolution-bench-llama").FullName;
        try
        {
            double fileGigabytes = WriteCheckpoint(folder, Shape);
            long parameters = Shape.VocabSize * (long)Shape.DModel * 2 + Shape.DModel + Shape.NLayers * (2L * Shape.DModel
                + (long)Shape.DModel * Shape.DHead * (2L * Shape.NHeads + 2L * Shape.KeyValueHeads) + 3L * Shape.DModel * Shape.DMlp);
            double float32Gigabytes = parameters * 4 / 1e9;
            var report = LoadInChildProcess(folder);
            if (report.Parameters != parameters) throw new InvalidOperationException($"counted {parameters} parameters, the loaded model has {report.Parameters}");
            double loadPeakGigabytes = (report.PeakBytes - report.BeforeBytes) / 1e9;
            Output.Status.MarkupLine($"pretrained load ({parameters / 1e6:F0}M parameters, BF16 file {fileGigabytes:F2} GB): {report.Seconds:F1} s, peak +{loadPeakGigabytes:F2} GB = {loadPeakGigabytes / float32Gigabytes:F2}x the float32 model ({float32Gigabytes:F2} GB); process peak {report.PeakBytes / 1e9:F2} GB");

            using var model = HfLlama.Load(folder, CPU);
            const int promptTokens = 128;
            using var _ = no_grad();
            using var generator = new Generator(1, CPU);
            using var tokens = randint(0, Shape.VocabSize, [1, promptTokens], generator: generator);
            double ms = CoreBenchmarks.MedianMs(() => model.forward(tokens).Dispose(), warmup: 1, repeats: quick ? 2 : 3);
            double tokensPerSecond = promptTokens / (ms / 1000);
            double fraction = Flops.ForwardPerToken(Shape, promptTokens) * tokensPerSecond / 1e9 / peak.GflopPerSecond;
            Output.Status.MarkupLine($"pretrained forward ({promptTokens} tokens): {tokensPerSecond:F0} tokens/s = {fraction:P0} of the matmul peak");
            return new PretrainedCost(parameters, float32Gigabytes, fileGigabytes, report.Seconds, loadPeakGigabytes, loadPeakGigabytes / float32Gigabytes,
                report.PeakBytes / 1e9, promptTokens, tokensPerSecond, fraction);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>Writes config.json and the BF16 weights in two shards (one layer's tensors at a time in memory); returns the files' size in GB.</summary>
    static double WriteCheckpoint(string folder, GptConfig c)
    {
        File.WriteAllText(Path.Combine(folder, "config.json"), JsonSerializer.Serialize(new
        {
            model_type = "llama", vocab_size = c.VocabSize, hidden_size = c.DModel, intermediate_size = c.DMlp, num_hidden_layers = c.NLayers,
            num_attention_heads = c.NHeads, num_key_value_heads = c.KeyValueHeads, max_position_embeddings = c.ContextLength,
            rms_norm_eps = c.LayerNormEps, rope_theta = c.RopeTheta, tie_word_embeddings = false, hidden_act = "silu", torch_dtype = "bfloat16",
        }));
        using var generator = new Generator(7, CPU);
        using var scale = 0.02.ToScalar();
        Tensor Random(params long[] shape) => randn(shape, generator: generator).mul_(scale).to(ScalarType.BFloat16);
        long q = (long)c.NHeads * c.DHead, kv = (long)c.KeyValueHeads * c.DHead;
        IEnumerable<KeyValuePair<string, Tensor>> Layer(int l)
        {
            var p = $"model.layers.{l}.";
            yield return new(p + "input_layernorm.weight", ones(c.DModel, ScalarType.BFloat16));
            yield return new(p + "post_attention_layernorm.weight", ones(c.DModel, ScalarType.BFloat16));
            yield return new(p + "self_attn.q_proj.weight", Random(q, c.DModel));
            yield return new(p + "self_attn.k_proj.weight", Random(kv, c.DModel));
            yield return new(p + "self_attn.v_proj.weight", Random(kv, c.DModel));
            yield return new(p + "self_attn.o_proj.weight", Random(c.DModel, q));
            yield return new(p + "mlp.gate_proj.weight", Random(c.DMlp, c.DModel));
            yield return new(p + "mlp.up_proj.weight", Random(c.DMlp, c.DModel));
            yield return new(p + "mlp.down_proj.weight", Random(c.DModel, c.DMlp));
        }
        var shards = new[]
        {
            (File: "model-00001-of-00002.safetensors", Layers: Enumerable.Range(0, c.NLayers / 2), Extra: new[] { "model.embed_tokens.weight" }),
            (File: "model-00002-of-00002.safetensors", Layers: Enumerable.Range(c.NLayers / 2, c.NLayers - c.NLayers / 2), Extra: new[] { "model.norm.weight", "lm_head.weight" }),
        };
        var map = new Dictionary<string, string>();
        long bytes = 0;
        foreach (var shard in shards)
        {
            // A shard's tensors are written together (the writer needs them all for the header): about half the file in memory.
            var tensors = shard.Layers.SelectMany(Layer).ToList();
            foreach (var name in shard.Extra)
                tensors.Add(new(name, name == "model.norm.weight" ? ones(c.DModel, ScalarType.BFloat16) : Random(c.VocabSize, c.DModel)));
            var path = Path.Combine(folder, shard.File);
            SafeTensors.Save(path, tensors);
            foreach (var (name, tensor) in tensors) { map[name] = shard.File; tensor.Dispose(); }
            bytes += new FileInfo(path).Length;
        }
        File.WriteAllText(Path.Combine(folder, HfWeights.IndexFile), JsonSerializer.Serialize(new { metadata = new { total_size = bytes }, weight_map = map }));
        return bytes / 1e9;
    }

    /// <summary>The child's side: loads the folder and reports memory and time (<c>bench --load-checkpoint DIR</c>).</summary>
    public static LoadReport LoadHere(string folder)
    {
        using var warm = zeros(1); // libtorch's own start-up is not part of the load
        long before = Status("VmRSS");
        var clock = Stopwatch.StartNew();
        using var model = HfLlama.Load(folder, CPU);
        double seconds = clock.Elapsed.TotalSeconds;
        return new LoadReport(before, Status("VmHWM"), seconds, model.ParameterCount());
    }

    static LoadReport LoadInChildProcess(string folder)
    {
        var start = SelfCommand.With("bench", "--load-checkpoint", folder);
        using var child = Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}");
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEndAsync();
        child.WaitForExit();
        if (child.ExitCode != 0) throw new InvalidOperationException($"the load process failed ({child.ExitCode}): {stderr.Result}");
        return JsonSerializer.Deserialize<LoadReport>(stdout.Result) ?? throw new InvalidOperationException("the load process printed nothing");
    }

    /// <summary>A memory line of /proc/self/status (VmRSS, VmHWM), in bytes.</summary>
    static long Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {field} line");
    }
}
