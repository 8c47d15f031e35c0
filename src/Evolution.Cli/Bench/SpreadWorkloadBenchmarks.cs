using Evolution.Agents.Population;
using Evolution.Agents.Protocols;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using Evolution.Scenarios;
using Evolution.Scenarios.Population;
using Evolution.Updates.Population;
using Spectre.Console;

namespace Evolution.Cli.Bench;

/// <summary>
/// Answers per second of a population at work: the rounds of <c>scenarios/population-10k.yaml</c>'s spread (10,000 agents on
/// its two trained bases, loaded from the checkpoint cache or trained on the spot as <c>run</c> would), where agents that
/// committed the same facts share one delta and many read the same text. Batched: a round's asks as the spread answers
/// them (<see cref="AgentPopulation.Answer"/>: each distinct base, delta and text scored once, in batched passes per base).
/// One at a time: a seeded sample of the same round's asks, on the same state, each ask's inputs scored in a forward of their
/// own (no batch, no input shared with another ask). Mechanism records are off on both sides: this measures answering.
/// The sample's answers are compared with the batched ones (same choices, probabilities within 1e-5). Each side is answered
/// once untimed (warm-up), then timed as the median of three passes (one with <c>--quick</c>).
/// </summary>
public static class SpreadWorkloadBenchmarks
{
    public sealed record SpreadWorkloadCost(string Scenario, int Agents, int Round, int Asks, long DistinctInputs, double BatchedAsksPerSecond,
        double OneAtATimeAsksPerSecond, int OneAtATimeSample, int SampleAgreeing, double BatchedOverOneAtATime);

    public const string ScenarioPath = "scenarios/population-10k.yaml";

    public static IReadOnlyList<SpreadWorkloadCost> Measure(TorchSharp.torch.Device device, bool quick)
    {
        if (!File.Exists(ScenarioPath)) throw new InputException(ScenarioPath, null, "not found: run the population bench from the repository's root");
        var scenario = Scenario.Load(ScenarioPath);
        var spec = scenario.Population ?? throw new InputException(ScenarioPath, "population", "the workload bench needs a population scenario");
        var bases = new List<PopulationBase>();
        try
        {
            foreach (var b in spec.Bases)
            {
                var trained = AgentTraining.TrainOrLoad(scenario.WorldPath, b.Profile, b.ProfileText, AgentTraining.DefaultCacheRoot(), device);
                Output.Status.MarkupLine($"[grey]base {b.Name}: {(trained.FromCache ? "loaded from cache" : $"trained in {trained.Report.Seconds:F0} s")}[/]");
                bases.Add(new PopulationBase(b.Name, trained));
            }
            var members = spec.Members(scenario.Seed);
            var network = spec.Network(scenario.Seed);
            var step = scenario.Steps.OfType<SpreadStep>().First();
            var plan = PopulationRun.Plan(scenario, bases[0].World, step, members, network);
            var source = new SwitchableBeliefs(bases);
            var population = new AgentPopulation(bases, members, source) { RecordsPeerMechanism = false };
            var log = new RoundsInMemory();
            var results = new List<SpreadWorkloadCost>();
            // Round 1 is the first in which agents read their neighbours; a later round has more agents with their own commits.
            int[] rounds = quick ? [1] : [1, Math.Min(10, step.Steps)];
            foreach (int round in rounds)
            {
                // The spread runs up to the round before (resuming from the rounds already in the log), then the round is timed.
                var spread = new Spread(population, new SpreadPlan(bases[0].World, members, network, plan.Settings with { Steps = round - 1 }));
                spread.Run(log);
                var asks = spread.Asks(round, log.Rounds()[^1]).SelectMany(a => a).ToList();
                long scoredBefore = population.Scored;
                var batched = population.Answer(asks);
                long distinct = population.Scored - scoredBefore;
                // Answering changes no state, so the round can be answered again: warmed up by the pass above, median of repeats.
                int repeats = quick ? 1 : 3;
                double batchedSeconds = CoreBenchmarks.MedianMs(() => population.Answer(asks), warmup: 0, repeats) / 1000;

                var random = new Random(Seeds.Mix(scenario.Seed, "bench-workload", round));
                var sample = Enumerable.Range(0, asks.Count).OrderBy(_ => random.Next()).Take(quick ? 200 : 1000).Order().ToList();
                var sampled = sample.Select(i => asks[i]).ToList();
                (source.OneAtATime, population.SharesInputs) = (true, false);
                var alone = population.Answer(sampled); // also the warm-up of the one-row shapes
                double aloneSeconds = CoreBenchmarks.MedianMs(() => population.Answer(sampled), warmup: 0, repeats) / 1000;
                (source.OneAtATime, population.SharesInputs) = (false, true);
                int agreeing = sample.Select((i, k) => Agrees(batched[i], alone[k])).Count(a => a);

                var cost = new SpreadWorkloadCost(ScenarioPath, members.Count, round, asks.Count, distinct, asks.Count / batchedSeconds,
                    sample.Count / aloneSeconds, sample.Count, agreeing, asks.Count / batchedSeconds / (sample.Count / aloneSeconds));
                results.Add(cost);
                Output.Status.MarkupLine($"spread round {round} of {Path.GetFileName(ScenarioPath)} ({members.Count:N0} agents): batched {cost.BatchedAsksPerSecond:F0} asks/s " +
                    $"({asks.Count:N0} asks, {distinct:N0} distinct inputs scored), one at a time {cost.OneAtATimeAsksPerSecond:F0} asks/s (a sample of {sample.Count:N0}; " +
                    $"{agreeing:N0} answer alike) = {cost.BatchedOverOneAtATime:F1}x");
            }
            return results;
        }
        finally
        {
            foreach (var b in bases) b.Dispose();
        }
    }

    static bool Agrees(PopulationAnswer a, PopulationAnswer b) =>
        a.Own == b.Own && a.Final == b.Final && a.ReadPeers == b.ReadPeers
        && Math.Abs(a.OwnProbability - b.OwnProbability) <= 1e-5 && Math.Abs(a.FinalProbability - b.FinalProbability) <= 1e-5;

    /// <summary>The bases in this process; one at a time, each query is scored in a forward of its own.</summary>
    sealed class SwitchableBeliefs(IReadOnlyList<PopulationBase> bases) : IBeliefSource
    {
        readonly InProcessBeliefs batched = new(bases);

        public bool OneAtATime { get; set; }

        public IReadOnlyDictionary<int, IReadOnlyList<double[]>> Beliefs(IReadOnlyDictionary<int, IReadOnlyList<AgentQuery>> byBase) => OneAtATime
            ? byBase.ToDictionary(p => p.Key, p => (IReadOnlyList<double[]>)[.. p.Value.Select(q => bases[p.Key].Answers.Beliefs([q])[0])])
            : batched.Beliefs(byBase);

        public IReadOnlyDictionary<int, IReadOnlyList<PeerPressureResult>> AnalyzePeers(IReadOnlyDictionary<int, IReadOnlyList<AgentPeerQuery>> byBase) =>
            batched.AnalyzePeers(byBase);

        public CircuitHeads? ConformityCircuit(int @base, AgentDelta? delta, IReadOnlyList<ConformityContrast> contrasts) =>
            batched.ConformityCircuit(@base, delta, contrasts);
    }

    sealed class RoundsInMemory : ISpreadLog
    {
        readonly List<SpreadRound> rounds = [];
        public IReadOnlyList<SpreadRound> Rounds() => rounds;
        public void Write(SpreadRound round) => rounds.Add(round);
    }
}
