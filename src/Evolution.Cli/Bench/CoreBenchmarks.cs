using System.Diagnostics;
using Evolution.Core.Checkpoints;
using Evolution.Core.Model;
using Evolution.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Cli.Bench;

/// <summary>
/// Measurements of the foundation, all in one process so ratios compare like with like:
/// the fp32 matmul peak, training throughput as a fraction of that peak, the cost of a full
/// activation cache, and checkpoint I/O.
/// </summary>
public static class CoreBenchmarks
{
    public sealed record MatmulPeak(int Size, double GflopPerSecond);

    public sealed record TrainingThroughput(string Model, long Parameters, int BatchSize, int SequenceLength,
        double TokensPerSecond, double AchievedGflopPerSecond, double FractionOfMatmulPeak);

    public sealed record CacheOverhead(string Model, double PlainForwardMs, double FullCacheForwardMs, double Ratio);

    /// <summary>Best fp32 GFLOP/s over square matmuls of a few sizes (best of several repetitions).</summary>
    public static MatmulPeak MeasureMatmulPeak(Device device, bool quick)
    {
        var best = new MatmulPeak(0, 0);
        foreach (int n in quick ? new[] { 512, 1024 } : new[] { 512, 1024, 2048 })
        {
            using var scope = NewDisposeScope();
            var a = randn(n, n, device: device);
            var b = randn(n, n, device: device);
            a.matmul(b); // warm-up
            int reps = quick ? 3 : Math.Max(3, (int)(2e10 / (2.0 * n * n * n)));
            for (int trial = 0; trial < 3; trial++)
            {
                var clock = Stopwatch.StartNew();
                for (int r = 0; r < reps; r++) a.matmul(b).Dispose();
                Synchronize(device);
                double gflops = 2.0 * n * n * n * reps / clock.Elapsed.TotalSeconds / 1e9;
                if (gflops > best.GflopPerSecond) best = new MatmulPeak(n, gflops);
            }
        }
        return best;
    }

    /// <summary>Tokens/s of the real training step (forward, backward, clip, AdamW) on random tokens.</summary>
    public static TrainingThroughput MeasureTraining(string name, GptConfig config, int batchSize, double peakGflops, Device device, bool quick)
    {
        var model = new Gpt(config, initSeed: 1);
        model.to(device);
        int steps = quick ? 5 : 30, warmup = quick ? 2 : 5;
        var options = new TrainingOptions { BatchSize = batchSize, MaxSteps = steps + warmup, WarmupSteps = 1, EvalEvery = 0 };
        // Random documents long enough to fill windows; the tokenizer is not part of the measurement.
        var random = new Random(1);
        var documents = Enumerable.Range(0, 256).Select(_ => Enumerable.Range(0, config.ContextLength).Select(_ => random.Next(1, config.VocabSize)).ToArray()).ToList();
        var trainer = new Trainer(model, options with { MaxSteps = warmup });
        trainer.TrainOnTokens(documents, 0);
        var result = new Trainer(model, options with { MaxSteps = steps }).TrainOnTokens(documents, 0);
        double tokensPerSecond = result.TokensPerSecond;
        double achieved = tokensPerSecond * Flops.TrainingPerToken(config, config.ContextLength) / 1e9;
        long parameters = model.ParameterCount();
        model.Dispose();
        return new TrainingThroughput(name, parameters, batchSize, config.ContextLength, tokensPerSecond, achieved, achieved / peakGflops);
    }

    /// <summary>Forward with every hook point cached (per-head results included) over a plain forward.</summary>
    public static CacheOverhead MeasureCacheOverhead(string name, GptConfig config, int batchSize, Device device, bool quick)
    {
        using var model = new Gpt(config, initSeed: 1);
        model.to(device);
        model.eval();
        using var _ = no_grad();
        using var tokens = randint(0, config.VocabSize, new long[] { batchSize, config.ContextLength }, device: device);
        int reps = quick ? 3 : 10;
        double Time(Action run)
        {
            run();
            var best = double.MaxValue;
            for (int trial = 0; trial < 3; trial++)
            {
                var clock = Stopwatch.StartNew();
                for (int r = 0; r < reps; r++) run();
                Synchronize(device);
                best = Math.Min(best, clock.Elapsed.TotalMilliseconds / reps);
            }
            return best;
        }
        double plain = Time(() => { using var scope = NewDisposeScope(); model.forward(tokens); });
        double cached = Time(() =>
        {
            using var scope = NewDisposeScope();
            var (_, cache) = model.RunWithCache(tokens);
            cache.Dispose();
        });
        return new CacheOverhead(name, plain, cached, cached / plain);
    }

    public sealed record CheckpointIo(string Model, double Megabytes, double SaveMs, double LoadMs);

    /// <summary>Writing and reading the model's safetensors file (best of three, into a temp folder).</summary>
    public static CheckpointIo MeasureCheckpointIo(string name, GptConfig config)
    {
        using var model = new Gpt(config, initSeed: 1);
        var directory = Directory.CreateTempSubdirectory("evolution-bench").FullName;
        var path = Path.Combine(directory, Checkpoint.WeightsFile);
        try
        {
            double save = double.MaxValue, load = double.MaxValue;
            for (int trial = 0; trial < 3; trial++)
            {
                var clock = Stopwatch.StartNew();
                SafeTensors.Save(path, model.state_dict());
                save = Math.Min(save, clock.Elapsed.TotalMilliseconds);
                clock.Restart();
                Checkpoint.LoadWeights(model, SafeTensors.Load(path), path);
                load = Math.Min(load, clock.Elapsed.TotalMilliseconds);
            }
            return new CheckpointIo(name, new FileInfo(path).Length / 1e6, save, load);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <param name="GridOverBatchForward">Grid time over one plain forward of the grid's batch (layers × tokens + 1 rows); the ideal is Samples + 1.</param>
    public sealed record TraceCost(string Model, int Tokens, int Samples, double ForwardMs, double GridMs, double GridOverForward, double GridOverBatchForward);

    /// <summary>
    /// One full causal-tracing grid (every layer × position, one kind, all noise samples) against one
    /// plain forward of the same prompt: the batching means the grid costs a few forwards, not one per cell.
    /// </summary>
    public static TraceCost MeasureCausalTrace(string name, GptConfig config, int samples)
    {
        using var model = new Gpt(config, initSeed: 1);
        model.eval();
        int length = 16;
        var prompt = new Mechanisms.FactPrompt("bench", Enumerable.Range(0, length).Select(i => (i * 7) % config.VocabSize).ToArray(), 2, 6, "x", 5);
        using var tokens = tensor(prompt.Tokens.Select(t => (long)t).ToArray(), [1, length]);
        double Best(Action run, int reps)
        {
            run();
            double best = double.MaxValue;
            for (int trial = 0; trial < 3; trial++)
            {
                var clock = Stopwatch.StartNew();
                for (int r = 0; r < reps; r++) run();
                best = Math.Min(best, clock.Elapsed.TotalMilliseconds / reps);
            }
            return best;
        }
        double forward = Best(() => { using var _ = no_grad(); using var s = NewDisposeScope(); model.forward(tokens); }, 20);
        using var batch = tokens.expand(config.NLayers * length + 1, length).contiguous();
        double batchForward = Best(() => { using var _ = no_grad(); using var s = NewDisposeScope(); model.forward(batch); }, 5);
        double grid = Best(() => Mechanisms.CausalTracing.Trace(model, prompt, Mechanisms.TraceKind.Mlp, new Mechanisms.CausalTraceOptions(samples)), 1);
        return new TraceCost(name, length, samples, forward, grid, grid / forward, grid / batchForward);
    }

    static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }
}
