using System.CommandLine;
using Evolution.Cli.Bench;
using Evolution.Core;
using Evolution.Core.Model;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution bench</c>: speed of the foundation, as ratios measured in one process.</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var quick = new Option<bool>("--quick") { Description = "fewer repetitions (a smoke run, noisier numbers)" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var only = new Option<string?>("--only") { Description = "measure one section only: core (matmul peak, training, activation cache, checkpoints, causal tracing), circuit (EAP-IG cost, and the per-answer mechanism record's cost against the answer), updates (ROME, MEMIT-100 and retrieval cost) population (population-10k.yaml's spread rounds answered batched against one ask at a time, and answers per second of 1 to 10,000 agents on one shared base each with its own delta, batched against one at a time; not in the full bench) cluster (round-trip latency and answers per second of three agents in one process and sharded on a coordinator plus 2 worker processes over TCP on 127.0.0.1, a population's batch of 1,000 agents through one base actor and through its sharded entities on the workers, and the wire size of ask, answer, learn and population messages; not in the full bench) or pretrained (load time and peak memory of a synthetic 500M-parameter BF16 Llama-layout checkpoint, forward tokens/s; not in the full bench)" };
        var loadCheckpoint = new Option<string?>("--load-checkpoint") { Hidden = true, Description = "internal: load this folder and print the memory it took (the child process of --only pretrained)" };
        var clusterWorker = new Option<string?>("--cluster-worker") { Hidden = true, Description = "internal: join the coordinator at this address as a worker of --only cluster" };
        var command = new Command("bench", "Measure matmul peak, training throughput, activation-cache cost, checkpoint I/O, causal-tracing cost, EAP-IG circuit cost, editing cost and retrieval latency.") { json, quick, device, only, loadCheckpoint, clusterWorker };
        command.SetAction(parse =>
        {
            if (parse.GetValue(loadCheckpoint) is { } folder)
            {
                Console.Out.WriteLine(System.Text.Json.JsonSerializer.Serialize(PretrainedBenchmarks.LoadHere(folder)));
                return 0;
            }
            if (parse.GetValue(clusterWorker) is { } seed) return ClusterBenchmarks.Worker(seed);
            return Run(parse.GetValue(json), parse.GetValue(quick), parse.GetValue(device)!, parse.GetValue(only));
        });
        return command;
    }

    static int Run(bool json, bool quick, string deviceName, string? only)
    {
        if (only is not (null or "core" or "circuit" or "updates" or "population" or "pretrained" or "cluster")) throw new InputException(null, "--only", $"unknown section '{only}' (known: core, circuit, updates, population, pretrained, cluster)");
        var device = Devices.Parse(deviceName);
        var models = new (string Name, GptConfig Config)[]
        {
            ("L4-D128", new GptConfig { VocabSize = 2048, ContextLength = 128, DModel = 128, NLayers = 4, NHeads = 4 }),
            ("L2-D64", new GptConfig { VocabSize = 2048, ContextLength = 128, DModel = 64, NLayers = 2, NHeads = 2 }),
        };
        Output.Status.MarkupLine($"[grey]bench on {device.type}, {Environment.ProcessorCount} cores{(quick ? ", quick" : "")}[/]");

        if (only == "updates")
        {
            var (updateEdits, updateRetrieval) = MeasureUpdates(quick);
            if (json) Output.Json(new { device = device.type.ToString().ToLowerInvariant(), cores = Environment.ProcessorCount, updates = new { edits = updateEdits, retrieval = updateRetrieval } });
            return 0;
        }
        if (only == "population")
        {
            var matmul = CoreBenchmarks.MeasureMatmulPeak(device, quick);
            Output.Status.MarkupLine($"matmul peak: {matmul.GflopPerSecond:F1} GFLOP/s (n={matmul.Size})");
            var measured = PopulationBenchmarks.Measure(matmul, quick);
            var workload = SpreadWorkloadBenchmarks.Measure(device, quick);
            if (json) Output.Json(new { device = device.type.ToString().ToLowerInvariant(), cores = Environment.ProcessorCount, matmul_peak_gflops = matmul.GflopPerSecond, population = measured, spread_workload = workload });
            return 0;
        }
        if (only == "cluster")
        {
            var (costs, wire, population) = ClusterBenchmarks.Measure(quick);
            if (json) Output.Json(new { device = device.type.ToString().ToLowerInvariant(), cores = Environment.ProcessorCount, cluster = costs, wire, population });
            return 0;
        }
        if (only == "pretrained")
        {
            var matmul = CoreBenchmarks.MeasureMatmulPeak(device, quick);
            Output.Status.MarkupLine($"matmul peak: {matmul.GflopPerSecond:F1} GFLOP/s (n={matmul.Size})");
            var measured = PretrainedBenchmarks.Measure(matmul, quick);
            if (json) Output.Json(new { device = device.type.ToString().ToLowerInvariant(), cores = Environment.ProcessorCount, matmul_peak_gflops = matmul.GflopPerSecond, pretrained = measured });
            return 0;
        }
        if (only == "circuit")
        {
            var measured = MeasureCircuits(models, quick);
            var record = MechanismRecordBenchmarks.Measure(quick);
            if (json) Output.Json(new { device = device.type.ToString().ToLowerInvariant(), cores = Environment.ProcessorCount, circuit = measured, mechanism_record = record });
            return 0;
        }

        var peak = CoreBenchmarks.MeasureMatmulPeak(device, quick);
        Output.Status.MarkupLine($"matmul peak: {peak.GflopPerSecond:F1} GFLOP/s (n={peak.Size})");
        var training = models.Select(m =>
        {
            var t = CoreBenchmarks.MeasureTraining(m.Name, m.Config, batchSize: 16, peak, device, quick);
            Output.Status.MarkupLine($"train {m.Name}: {t.TokensPerSecond:F0} tokens/s, {t.AchievedGflopPerSecond:F1} GFLOP/s = {t.FractionOfMatmulPeak:P0} of peak");
            return t;
        }).ToList();
        var cache = models.Select(m =>
        {
            var c = CoreBenchmarks.MeasureCacheOverhead(m.Name, m.Config, batchSize: 32, device, quick);
            Output.Status.MarkupLine($"full cache {m.Name}: {c.Ratio:F2}x a plain forward ({c.FullCacheForwardMs:F1} ms vs {c.PlainForwardMs:F1} ms)");
            return c;
        }).ToList();

        var checkpoints = models.Select(m =>
        {
            var io = CoreBenchmarks.MeasureCheckpointIo(m.Name, m.Config);
            Output.Status.MarkupLine($"checkpoint {m.Name}: {io.Megabytes:F1} MB, save {io.SaveMs:F1} ms, load {io.LoadMs:F1} ms");
            return io;
        }).ToList();

        var traces = models.Select(m =>
        {
            var t = CoreBenchmarks.MeasureCausalTrace(m.Name, m.Config, samples: 10);
            Output.Status.MarkupLine($"causal trace {m.Name}: {m.Config.NLayers}×{t.Tokens} grid, {t.Samples} samples = {t.GridOverForward:F1}x one forward of the prompt, {t.GridOverBatchForward:F1}x one forward of the grid's batch (ideal {t.Samples + 1})");
            return t;
        }).ToList();

        // --only core stops here; the full bench adds the circuit and update sections.
        bool coreOnly = only == "core";
        var circuits = coreOnly ? null : MeasureCircuits(models, quick);
        var records = coreOnly ? null : MechanismRecordBenchmarks.Measure(quick);
        object? updates = null;
        if (!coreOnly)
        {
            var (edits, retrieval) = MeasureUpdates(quick);
            updates = new { edits, retrieval };
        }

        if (json)
            Output.Json(new
            {
                device = device.type.ToString().ToLowerInvariant(),
                cores = Environment.ProcessorCount,
                matmul_peak_gflops = peak.GflopPerSecond,
                training,
                cache_overhead = cache,
                checkpoint_io = checkpoints,
                causal_trace = traces,
                circuit = circuits,
                mechanism_record = records,
                updates,
            });
        return 0;
    }

    static (IReadOnlyList<UpdateBenchmarks.EditCost> Edits, IReadOnlyList<UpdateBenchmarks.RetrievalCost> Retrieval) MeasureUpdates(bool quick)
    {
        var (edits, retrieval) = UpdateBenchmarks.Measure(quick);
        foreach (var e in edits)
            Output.Status.MarkupLine($"{e.Method} ({e.Edits} edit{(e.Edits == 1 ? "" : "s")}, covariance cached): {e.SecondsPerBatch:F2} s = {e.EditOverForward:F0}x one forward of the prompt");
        foreach (var r in retrieval)
            Output.Status.MarkupLine($"retrieval {r.Retriever} over {r.Statements:N0} statements: {r.MillisecondsPerQuery:F2} ms per query (top 5)");
        return (edits, retrieval);
    }

    static List<CircuitBenchmarks.CircuitCost> MeasureCircuits((string Name, GptConfig Config)[] models, bool quick) => models.Select(m =>
    {
        var c = CircuitBenchmarks.Measure(m.Name, m.Config, quick: quick);
        Output.Status.MarkupLine($"EAP-IG circuit {m.Name}: {c.Edges} edges, {c.Facts} facts × {c.Tokens} tokens, {c.IgSteps} IG steps = {c.EapIgOverForward:F1}x one forward of the batch (≈{c.UnbatchedEstimate} if the IG steps ran one by one); faithfulness check {c.EvaluationOverForward:F1}x");
        return c;
    }).ToList();
}
