using System.CommandLine;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Training;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution train</c>: train an agent on a world (or load it from the cache) and report its accuracy.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var world = new Option<string>("--world") { Description = "world spec (scenarios/worlds/*.yaml)", Required = true };
        var agent = new Option<string?>("--agent") { Description = $"agent profile (agents/*.yaml; default: {ShippedFiles.DefaultAgent}, built in)" };
        var output = new Option<string?>("--out") { Description = "copy the checkpoint here" };
        var retrain = new Option<bool>("--retrain") { Description = "ignore the cache and train again" };
        var cache = new Option<string?>("--cache") { Description = "cache folder (default: $EVOLUTION_CACHE or ./.cache/evolution)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var command = new Command("train", "Train an agent on a world (cached by a hash of its inputs) and evaluate it.") { world, agent, output, retrain, cache, json, device };
        command.SetAction(parse => Run(parse.GetRequiredValue(world), parse.GetValue(agent), parse.GetValue(output), parse.GetValue(retrain),
            parse.GetValue(cache) ?? AgentTraining.DefaultCacheRoot(), parse.GetValue(json), parse.GetValue(device)!));
        return command;
    }

    static int Run(string worldPath, string? profilePath, string? outDir, bool retrain, string cacheRoot, bool json, string deviceName)
    {
        var device = Devices.Parse(deviceName);
        TrainedAgent agent = null!;
        Output.WithProgress("training", 1.0, report =>
        {
            var progress = new SynchronousProgress<TrainingProgress>(p => report((double)p.Step / p.MaxSteps,
                $"step {p.Step}/{p.MaxSteps}  loss {p.Loss:F3}  {p.TokensPerSecond:F0} tok/s" + (p.LiveHit1 is { } h ? $"  Hit@1 {h:F2}" : "")));
            agent = AgentTraining.TrainOrLoad(worldPath, profilePath, cacheRoot, device, progress, retrain);
            return 0;
        });

        var checkpoint = agent.Checkpoint;
        if (outDir is not null)
        {
            CopyDirectory(agent.Checkpoint, outDir);
            checkpoint = Path.GetFullPath(outDir);
        }
        var r = agent.Report;
        double Metric(string set, Func<Core.Evaluation.RankingMetrics, double> pick) =>
            r.Evaluation.BySet.TryGetValue(set, out var m) ? pick(m) : double.NaN;

        if (json)
        {
            Output.Json(new
            {
                metrics = new
                {
                    hit1_train = Metric("train", m => m.Hit1),
                    hit10_train = Metric("train", m => m.Hit10),
                    mrr_train = Metric("train", m => m.Mrr),
                    hit1_paraphrase = Metric("paraphrase", m => m.Hit1),
                    hit10_paraphrase = Metric("paraphrase", m => m.Hit10),
                    hit1_two_hop = Metric("two_hop", m => m.Hit1),
                    hit10_two_hop = Metric("two_hop", m => m.Hit10),
                },
                by_set_and_relation = r.Evaluation.BySetAndRelation,
                tokens_per_second = r.TokensPerSecond,
                seconds = r.Seconds,
                steps = r.Steps,
                parameters = r.Parameters,
                vocab_size = r.VocabSize,
                documents = r.Documents,
                from_cache = agent.FromCache,
                cache_key = r.CacheKey,
                checkpoint,
            });
            return 0;
        }
        var table = new Table().AddColumns("eval set", "queries", "Hit@1", "Hit@10", "MRR");
        foreach (var (set, m) in r.Evaluation.BySet)
            table.AddRow(set, m.Count.ToString(), m.Hit1.ToString("F3"), m.Hit10.ToString("F3"), m.Mrr.ToString("F3"));
        Output.Status.Write(table);
        Output.Status.MarkupLine($"{(agent.FromCache ? "loaded from cache" : $"trained {r.Steps} steps in {r.Seconds:F0} s at {r.TokensPerSecond:F0} tokens/s")}; " +
            $"{r.Parameters:N0} parameters, vocabulary {r.VocabSize}");
        Console.Out.WriteLine(checkpoint);
        return 0;
    }

    static void CopyDirectory(string from, string to)
    {
        if (Path.GetFullPath(from) == Path.GetFullPath(to)) return;
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)), overwrite: true);
    }

    /// <summary>Reports on the calling thread (Progress&lt;T&gt; would post to the thread pool and race the bar).</summary>
    sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
