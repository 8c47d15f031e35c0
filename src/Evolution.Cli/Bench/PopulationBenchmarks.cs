using System.Diagnostics;
using Evolution.Agents.Population;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Updates.Population;
using Spectre.Console;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Cli.Bench;

/// <summary>
/// Answers per second of a population on one shared base (the default agent's shape and world; weights untrained, which
/// does not change the cost): every agent owns a random rank-1 change of the last layer's MLP output projection (one
/// ROME edit's size) and asks one question of a fixed set (agent i the (i mod 16)-th) with 8 candidates (the answer and
/// 7 others of its type; the world's full lists, about 30, would make the 10,000-agent pass 4x longer for the same ratio).
/// Batched: all agents' questions through <see cref="SharedBase"/>, one forward per chunk of rows, each row adding its own
/// agent's delta. One at a time: per agent, its delta written into the weights, its question answered, the weights
/// restored (what a single shared model would do without per-row deltas); measured on a sample of agents, since its cost
/// per answer does not depend on how many agents there are. Both score with prompt sharing (a question's candidates in
/// one row after one copy of its prompt, as <see cref="SharedBase"/> does), so the ratio compares batching alone.
/// </summary>
public static class PopulationBenchmarks
{
    /// <param name="BatchedFractionOfPeak">The batched pass's forward FLOP/s (<see cref="Flops.ScoringForward"/> over the rows'
    /// own tokens, padding not counted) over the fp32 matmul peak measured in the same run; <paramref name="OneAtATimeFractionOfPeak"/>
    /// likewise. Their ratio bounds what batching alone can gain: every agent's delta is its own, so every row is computed.</param>
    public sealed record PopulationCost(int Agents, int CandidatesPerQuestion, double BatchedAnswersPerSecond, double OneAtATimeAnswersPerSecond,
        int OneAtATimeSample, double BatchedOverOneAtATime, long BytesPerAgent, long BaseBytes, double BatchedFractionOfPeak, double OneAtATimeFractionOfPeak);

    const int Questions = 16;
    const int Candidates = 8;

    public static IReadOnlyList<PopulationCost> Measure(CoreBenchmarks.MatmulPeak peak, bool quick)
    {
        var (world, tokenizer) = BenchWorld.Load();
        using var model = new Gpt(AgentProfile.Default.Model.ToConfig(tokenizer.VocabSize), 1);
        var questions = BenchWorld.Queries(world, Questions)
            .Select(q => q with { Candidates = [q.Answer, .. q.Candidates.Where(c => c != q.Answer).Take(Candidates - 1)] }).ToList();
        var population = new SharedBase(model, tokenizer);
        var ranker = new CandidateRanker(model, tokenizer, sharePrompt: true);
        long baseBytes = model.ParameterCount() * 4;

        int[] sizes = [1, 100, 1_000, 10_000];
        int sample = quick ? 20 : 100;
        var deltas = RandomDeltas(model.Config, sizes.Max());
        try
        {
            var queries = deltas.Select((d, i) => new AgentQuery(d, questions[i % Questions].Prompt, questions[i % Questions].Candidates)).ToList();
            population.ScoreMany(queries.Take(100).ToList()); // warm-up: allocator, thread pool, first-call costs
            var results = new List<PopulationCost>();
            foreach (int agents in sizes)
            {
                var asked = queries.Take(agents).ToList();
                // The 10,000-agent pass is long enough to time once; smaller ones are repeated and the median kept.
                int repeats = agents >= 10_000 || quick ? 1 : 3;
                double batchedMs = CoreBenchmarks.MedianMs(() => population.ScoreMany(asked), warmup: agents >= 10_000 ? 0 : 1, repeats);
                var sampled = asked.Take(Math.Min(agents, sample)).ToList();
                double oneAtATimeMs = CoreBenchmarks.MedianMs(() => AnswerOneAtATime(model, ranker, sampled), warmup: 1, quick ? 1 : 3);
                double batched = agents / (batchedMs / 1000), alone = sampled.Count / (oneAtATimeMs / 1000);
                double FractionOfPeak(IEnumerable<AgentQuery> scored, double ms) => scored.Sum(q => ScoringFlops(model.Config, tokenizer, q)) / (ms / 1000) / 1e9 / peak.GflopPerSecond;
                var cost = new PopulationCost(agents, (int)questions.Average(q => q.Candidates.Count), batched, alone, sampled.Count, batched / alone, deltas[0].Bytes, baseBytes,
                    FractionOfPeak(asked, batchedMs), FractionOfPeak(sampled, oneAtATimeMs));
                results.Add(cost);
                Output.Status.MarkupLine($"population {agents:N0} agent{(agents == 1 ? "" : "s")}: batched {batched:F1} answers/s ({cost.BatchedFractionOfPeak:P0} of the matmul peak), " +
                    $"one at a time {alone:F1} answers/s ({cost.OneAtATimeFractionOfPeak:P0}; apply-answer-revert on {sampled.Count:N0} of them) = {cost.BatchedOverOneAtATime:F2}x; " +
                    $"{cost.BytesPerAgent:N0} B per agent (the base: {baseBytes / 1e6:F1} MB)");
            }
            return results;
        }
        finally
        {
            foreach (var d in deltas) d.Dispose();
        }
    }

    /// <summary>The forward FLOPs of a query's packed row: its start token and prompt, then every candidate, read at each candidate token.</summary>
    static double ScoringFlops(GptConfig config, ITextTokenizer tokenizer, AgentQuery query)
    {
        var candidates = query.Candidates.Select(c => tokenizer.Encode(c).Length).ToList();
        int tokens = tokenizer.PromptStart.Count + tokenizer.Encode(query.Prompt).Length + candidates.Sum();
        return Flops.ScoringForward(config, tokens, 1 + candidates.Sum(c => c - 1));
    }

    /// <summary>One rank-1 change of the last layer per agent (seeded; its size, not its values, sets the cost).</summary>
    internal static List<AgentDelta> RandomDeltas(GptConfig config, int count)
    {
        using var generator = new Generator(7, CPU);
        using var scale = 0.01.ToScalar();
        return Enumerable.Range(0, count).Select(_ =>
        {
            using var scope = NewDisposeScope();
            return new AgentDelta(new Dictionary<int, LayerDelta>
            {
                [config.NLayers - 1] = LayerDelta.LowRank(randn([config.DModel, 1], generator: generator).mul(scale), randn([config.DMlp, 1], generator: generator).mul(scale)),
            });
        }).ToList();
    }

    /// <summary>Each agent's delta written into the base, its question answered, the base restored.</summary>
    static void AnswerOneAtATime(Gpt model, CandidateRanker ranker, IReadOnlyList<AgentQuery> queries)
    {
        foreach (var query in queries)
        {
            using var written = query.Delta!.ToWeightDelta(model);
            written.Apply(model);
            try { ranker.ScoreMany([(query.Prompt, query.Candidates)]); }
            finally { written.Revert(model); }
        }
    }
}
