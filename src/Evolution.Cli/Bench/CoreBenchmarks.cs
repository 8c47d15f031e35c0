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
/// activation cache, and checkpoint I/O. Every figure is the median of several repeats taken
/// after warm-up calls (the first calls pay for lazy initialisation, thread start-up and the
/// allocator growing, which once made a cached forward look faster than a plain one).
/// </summary>
public static class CoreBenchmarks
{
    /// <summary>Repeats after warm-up; the median resists a repeat slowed by other work on the machine.</summary>
    public static int Repeats(bool quick) => quick ? 3 : 7;

    /// <summary>Median milliseconds per call of <paramref name="run"/>: <paramref name="warmup"/> calls first, then <paramref name="repeats"/> timed groups of <paramref name="calls"/> calls.</summary>
    public static double MedianMs(Action run, int warmup, int repeats, int calls = 1, Device? device = null)
    {
        for (int w = 0; w < warmup; w++) run();
        if (device is not null) Synchronize(device);
        var times = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            var clock = Stopwatch.StartNew();
            for (int c = 0; c < calls; c++) run();
            if (device is not null) Synchronize(device);
            times[r] = clock.Elapsed.TotalMilliseconds / calls;
        }
        return Median(times);
    }

    public static double Median(IReadOnlyList<double> values)
    {
        var sorted = values.Order().ToArray();
        int n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    public sealed record MatmulPeak(int Size, double GflopPerSecond);

    public sealed record TrainingThroughput(string Model, long Parameters, int BatchSize, int SequenceLength,
        double TokensPerSecond, double AchievedGflopPerSecond, double FractionOfMatmulPeak);

    public sealed record CacheOverhead(string Model, double PlainForwardMs, double FullCacheForwardMs, double Ratio);

    /// <summary>fp32 GFLOP/s of square matmuls: the median over repeats for each size, the best size.</summary>
    public static MatmulPeak MeasureMatmulPeak(Device device, bool quick)
    {
        var best = new MatmulPeak(0, 0);
        foreach (int n in quick ? new[] { 512, 1024 } : new[] { 512, 1024, 2048 })
        {
            double gflops = MatmulGflops(n, device, quick);
            if (gflops > best.GflopPerSecond) best = new MatmulPeak(n, gflops);
        }
        return best;
    }

    static double MatmulGflops(int n, Device device, bool quick, int? repeats = null)
    {
        using var scope = NewDisposeScope();
        var a = randn(n, n, device: device);
        var b = randn(n, n, device: device);
        int calls = quick ? 3 : Math.Max(3, (int)(4e9 / (2.0 * n * n * n)));
        double ms = MedianMs(() => a.matmul(b).Dispose(), warmup: 2, repeats ?? Repeats(quick), calls, device);
        return 2.0 * n * n * n / (ms / 1000) / 1e9;
    }

    /// <summary>
    /// Tokens/s of the real training step (forward, backward, clip, AdamW) on random tokens: the
    /// median over repeated runs of a few steps after warm-up runs. Each repeat is paired with a
    /// short matmul measurement just before it, and the fraction of peak is the median of those
    /// pairs' ratios, so load from other processes that comes and goes cancels out.
    /// </summary>
    public static TrainingThroughput MeasureTraining(string name, GptConfig config, int batchSize, MatmulPeak peak, Device device, bool quick)
    {
        var model = new Gpt(config, initSeed: 1);
        model.to(device);
        int steps = quick ? 3 : 8, warmup = quick ? 2 : 5, repeats = Repeats(quick);
        var options = new TrainingOptions { BatchSize = batchSize, MaxSteps = steps, WarmupSteps = 1, EvalEvery = 0 };
        // Random documents long enough to fill windows; the tokenizer is not part of the measurement.
        var random = new Random(1);
        var documents = Enumerable.Range(0, 256).Select(_ => Enumerable.Range(0, config.ContextLength).Select(_ => random.Next(1, config.VocabSize)).ToArray()).ToList();
        new Trainer(model, options with { MaxSteps = warmup }).TrainOnTokens(documents, 0);
        double flopsPerToken = Flops.TrainingPerToken(config, config.ContextLength);
        var tokensPerSecond = new double[repeats];
        var fractions = new double[repeats];
        for (int r = 0; r < repeats; r++)
        {
            double nearbyPeak = MatmulGflops(peak.Size, device, quick: true, repeats: 1);
            tokensPerSecond[r] = new Trainer(model, options).TrainOnTokens(documents, 0).TokensPerSecond;
            fractions[r] = tokensPerSecond[r] * flopsPerToken / 1e9 / nearbyPeak;
        }
        long parameters = model.ParameterCount();
        model.Dispose();
        double median = Median(tokensPerSecond);
        return new TrainingThroughput(name, parameters, batchSize, config.ContextLength, median, median * flopsPerToken / 1e9, Median(fractions));
    }

    /// <summary>Forward with every hook point cached (per-head results included) over a plain forward.</summary>
    public static CacheOverhead MeasureCacheOverhead(string name, GptConfig config, int batchSize, Device device, bool quick)
    {
        using var model = new Gpt(config, initSeed: 1);
        model.to(device);
        model.eval();
        using var _ = no_grad();
        using var tokens = randint(0, config.VocabSize, new long[] { batchSize, config.ContextLength }, device: device);
        int calls = quick ? 3 : 5;
        void Plain() { using var scope = NewDisposeScope(); model.forward(tokens); }
        void Cached()
        {
            using var scope = NewDisposeScope();
            var (_, cache) = model.RunWithCache(tokens);
            cache.Dispose();
        }
        // Both warmed up before either is timed, then timed in alternation so drifting load hits both alike.
        for (int w = 0; w < 3; w++) { Plain(); Cached(); }
        var plainTimes = new List<double>();
        var cachedTimes = new List<double>();
        for (int r = 0; r < Repeats(quick); r++)
        {
            plainTimes.Add(MedianMs(Plain, warmup: 0, repeats: 1, calls, device));
            cachedTimes.Add(MedianMs(Cached, warmup: 0, repeats: 1, calls, device));
        }
        double plain = Median(plainTimes), cached = Median(cachedTimes);
        return new CacheOverhead(name, plain, cached, cached / plain);
    }

    public sealed record CheckpointIo(string Model, double Megabytes, double SaveMs, double LoadMs);

    /// <summary>Writing and reading the model's safetensors file (into a temp folder; median of repeats after one warm-up).</summary>
    public static CheckpointIo MeasureCheckpointIo(string name, GptConfig config)
    {
        using var model = new Gpt(config, initSeed: 1);
        var directory = Directory.CreateTempSubdirectory("evolution-bench").FullName;
        var path = Path.Combine(directory, Checkpoint.WeightsFile);
        try
        {
            var saves = new List<double>();
            var loads = new List<double>();
            for (int trial = -1; trial < 5; trial++) // trial -1 is the warm-up
            {
                var clock = Stopwatch.StartNew();
                SafeTensors.Save(path, model.state_dict());
                double save = clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                Checkpoint.LoadWeights(model, SafeTensors.Load(path), path);
                double load = clock.Elapsed.TotalMilliseconds;
                if (trial >= 0) { saves.Add(save); loads.Add(load); }
            }
            return new CheckpointIo(name, new FileInfo(path).Length / 1e6, Median(saves), Median(loads));
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
        double Time(Action run, int calls) => MedianMs(run, warmup: 2, repeats: 5, calls);
        double forward = Time(() => { using var _ = no_grad(); using var s = NewDisposeScope(); model.forward(tokens); }, 20);
        using var batch = tokens.expand(config.NLayers * length + 1, length).contiguous();
        double batchForward = Time(() => { using var _ = no_grad(); using var s = NewDisposeScope(); model.forward(batch); }, 5);
        double grid = Time(() => Mechanisms.CausalTracing.Trace(model, prompt, Mechanisms.TraceKind.Mlp, new Mechanisms.CausalTraceOptions(samples)), 1);
        return new TraceCost(name, length, samples, forward, grid, grid / forward, grid / batchForward);
    }

    static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize();
    }
}
