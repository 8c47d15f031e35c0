using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Evolution.Agents.Population;
using Evolution.Agents.Protocols;
using Evolution.Agents.Recording;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;

namespace Evolution.Scenarios.Population;

/// <summary>A population run's summary: its size and network, and each spread step's metrics; <see cref="Adoption"/> is the last spread's.</summary>
public sealed record PopulationMetrics(int Agents, IReadOnlyList<string> Bases, DegreeStatistics Network, AdoptionCurve Adoption, IReadOnlyList<SpreadStepMetrics> Spreads);

/// <summary>
/// One spread step: the facts that spread (subject:relation = true / old / rumour), the metrics of its rounds, and the
/// mechanism of the answers read with neighbours who said otherwise, per round (null: none was recorded).
/// </summary>
public sealed record SpreadStepMetrics(int Step, int Epoch, IReadOnlyList<string> Facts, SpreadSummary Spread, IReadOnlyList<SpreadMechanismRound>? Mechanism = null)
{
    /// <summary>The followed agents' conformity circuits before and after the spread (<c>circuit_facts</c>; null: none followed).</summary>
    public IReadOnlyList<SpreadCircuitChange>? ConformityCircuits { get; init; }
}

/// <summary>
/// How one followed agent's conformity circuit changed over a spread (<see cref="Agents.Protocols.SpreadStep.CircuitFacts"/>):
/// the circuit before the news was told and after the last step, their top heads' overlap (Jaccard) and the rank correlation
/// of every head's EAP-IG score (Spearman); what the agent committed in between (its channel's commits about the facts).
/// </summary>
public sealed record SpreadCircuitChange(string Agent, string Base, string Channel, IReadOnlyList<string> Committed, ConformityCircuitMetrics Before,
    ConformityCircuitMetrics After, double TopHeadJaccard, double HeadRankCorrelation);

/// <summary>
/// One round's answers read with neighbours who said otherwise, with their mechanism records (the conformity step's
/// per-answer record, <see cref="Agents.PeerTrace"/>): <see cref="Records"/> distinct analyses (agents that read the same
/// text with the same weights share one) covering <see cref="All"/>.Answers answers; pooled over all agents and per update
/// channel (conformed: the agent stated the answer most of those neighbours gave), and conformers against resisters.
/// </summary>
public sealed record SpreadMechanismRound(int Round, int Records, PeerPressureMetrics All, IReadOnlyList<PeerPressureMetrics> ByChannel, IReadOnlyList<PeerPressureSplit> ConformedVsResisted);

/// <summary>
/// Runs a population scenario (<see cref="PopulationSpec"/>): trains or loads each base once and starts one actor per base
/// (<see cref="BaseActor"/>: the bases answer their agents' batches in parallel), draws the agents and the network from the scenario's seed, and runs its spread steps in order, each finished spread step's rounds in run.db.
/// A resumed run re-takes in what the recorded rounds committed (no model runs for them) and carries on.
/// </summary>
public static class PopulationRun
{
    /// <summary>Where a run keeps its agents' memories: one store for all (<see cref="PopulationMemory"/>).</summary>
    public static string MemoryPath(string runFolder) => Path.Combine(runFolder, RunFolder.MemoryDirectory, PopulationMemory.FileName);

    public static void Execute(Scenario scenario, RunOptions options, RunDatabase db)
    {
        var spec = scenario.Population!;
        var bases = new List<PopulationBase>();
        try
        {
            foreach (var b in spec.Bases)
            {
                options.Progress?.Report($"base {b.Name}: training or loading ({b.Profile.Model.Layers} layers, d={b.Profile.Model.DModel}, seed {b.Profile.Training.Seed})");
                var trained = AgentTraining.TrainOrLoad(scenario.WorldPath, b.Profile, b.ProfileText, options.CacheRoot, options.Device, options.TrainingProgress);
                options.Progress?.Report($"base {b.Name}: {(trained.FromCache ? "loaded from cache" : $"trained in {trained.Report.Seconds:F0} s")}, train Hit@1 {trained.Report.Evaluation.BySet["train"].Hit1:F2}");
                bases.Add(new PopulationBase(b.Name, trained));
            }
            var world = bases[0].World;
            var members = spec.Members(scenario.Seed);
            var network = spec.Network(scenario.Seed);
            options.Progress?.Report($"population: {members.Count:N0} agents, {SocialNetwork.Statistics(network)}");
            var config = ConfigurationFactory.ParseString("akka { loglevel = WARNING, stdout-loglevel = WARNING, log-dead-letters = off, log-dead-letters-during-shutdown = off }");
            // On worker nodes (--local-nodes, --cluster) the bases' forward passes run there; the agents, their commits and deltas stay here.
            using var cluster = options.OnCluster ? LocalCluster.Start(scenario, options) : null;
            using var system = cluster?.System ?? ActorSystem.Create("population", config);
            var answers = bases.Select(b => b.Answers).ToList();
            var source = cluster is null
                ? BaseActors.Local(answers, [.. bases.Select((_, i) => system.ActorOf(BaseActor.Props(b => answers[b]), $"base-{i}"))], options.AskTimeout)
                : BaseActors.Sharded(answers, cluster.BaseRegion, options.AskTimeout, Agents.Cluster.NodeLosses.Watch(system));
            using var memory = PopulationMemory.Open(MemoryPath(options.OutputDirectory));
            var population = new AgentPopulation(bases, members, source, memory);
            foreach (var step in scenario.Steps.Cast<SpreadStep>())
            {
                var clock = Stopwatch.StartNew();
                var plan = Plan(scenario, world, step, members, network);
                FollowCircuits(scenario, step, plan, population, db, "before", options.Progress);
                new Spread(population, plan).Run(new SpreadLog(db, step.Index, source.TakePlacements), round => options.Progress?.Report(
                    $"spread (step {step.Index}) {round.Step}/{step.Steps}: {Shares(plan, round)}; {clock.Elapsed.TotalSeconds:F0} s, {population.Asked:N0} answers from {population.Scored:N0} distinct inputs"));
                FollowCircuits(scenario, step, plan, population, db, "after", options.Progress);
                db.Write(new StepEvent { Id = $"step/{step.Index}", Step = step.Index, Protocol = step.Protocol, Finished = DateTime.UtcNow });
            }
            options.Progress?.Report($"population: the agents own {population.OwnedBytes:N0} bytes beyond their bases ({population.OwnedBytes / (double)members.Count:F0} per agent)");
            system.Terminate().Wait(TimeSpan.FromSeconds(30));
        }
        finally
        {
            foreach (var b in bases) b.Dispose();
        }
    }

    /// <summary>
    /// A worker node's copies of the scenario's bases, by index, each trained or loaded through the checkpoint cache (as the
    /// coordinator did) when one of its entities first needs it, then shared by them.
    /// </summary>
    public static Func<int, SharedBase> NodeBases(Scenario scenario, RunOptions options)
    {
        var loaded = scenario.Population!.Bases.Select(b => new Lazy<SharedBase>(() =>
        {
            var trained = AgentTraining.TrainOrLoad(scenario.WorldPath, b.Profile, b.ProfileText, options.CacheRoot, options.Device, null, fetch: options.FetchCheckpoint);
            options.Progress?.Report($"base {b.Name}: {(trained.FromCache ? "loaded from cache" : "trained")}");
            return new SharedBase(trained.Model, trained.Tokenizer);
        })).ToList();
        return b => b >= 0 && b < loaded.Count ? loaded[b].Value : throw new ArgumentOutOfRangeException(nameof(b), b, $"the scenario has {loaded.Count} bases");
    }

    public const string CircuitKind = "spread-conformity-circuit";

    /// <summary>
    /// With <see cref="SpreadStep.CircuitFacts"/>, the conformity circuits of the followed agents (<see cref="SpreadPlan.CircuitAgents"/>)
    /// as they are now, on the spread's first facts with as many confederates as an agent reads neighbours, each recorded as a
    /// trace event (label "before": before the news is told; "after": after the last step). A resumed run finds only those
    /// not recorded yet: "before" ones are all found before the first round is written, "after" ones after the last.
    /// </summary>
    static void FollowCircuits(Scenario scenario, SpreadStep step, SpreadPlan plan, AgentPopulation population, RunDatabase db, string label, IProgress<string>? progress)
    {
        if (step.CircuitFacts == 0) return;
        var facts = plan.Settings.Facts.Take(step.CircuitFacts).Select((f, i) => (f.Fact, plan.Questions[i])).ToList();
        foreach (int agent in plan.CircuitAgents(step.CircuitAgents))
        {
            string id = $"{step.Index}/{CircuitKind}/{label}/{agent}";
            if (db.Traces.FindById(id) is not null) continue;
            var found = population.ConformityCircuit(agent, facts, step.Reads, Seeds.Mix(scenario.Seed, "spread-circuit", step.Index));
            db.Write(new TraceEvent
            {
                Id = id, Step = step.Index, Kind = CircuitKind, AgentA = $"agent {agent}", Fact = label, Layer = found?.Used ?? 0,
                Heads = [.. found?.Heads.Select(h => h.Name) ?? []], HeadScores = [.. found?.Heads.Select(h => Math.Round(h.Score, 6)) ?? []],
            });
            progress?.Report($"spread (step {step.Index}): conformity circuit of agent {agent} ({UpdatePolicy.NameOf(population.Members[agent].Channel)}) {label}: " +
                (found is null ? "no usable contrast" : string.Join(", ", found.Heads.Take(3).Select(h => $"{h.Name} {h.Score:F3}"))));
        }
    }

    /// <summary>
    /// What a spread step asks, from the scenario alone: a seeded sample of the epoch's changes, each with its new object
    /// as the news, its object before the change as the old one and, with a rumour share, a seeded other candidate as the rumour.
    /// </summary>
    public static SpreadPlan Plan(Scenario scenario, World world, SpreadStep step, IReadOnlyList<PopulationMember> members, IReadOnlyList<int>[] network)
    {
        var random = new Random(Seeds.Mix(scenario.Seed, "spread-facts", step.Index));
        var changes = world.Changes.Where(c => c.Epoch == step.Epoch).ToArray();
        random.Shuffle(changes);
        var facts = changes.Take(step.Facts).OrderBy(c => c.Subject).ThenBy(c => c.Relation, StringComparer.Ordinal).Select(c =>
        {
            string True = " " + world[c.NewObject].Name, old = " " + world[c.OldObject].Name;
            var others = world.CandidateAnswers(RelationCatalogue.Get(c.Relation).ObjectType).Where(a => a != True && a != old).ToList();
            string? rumour = step.Rumour > 0 && others.Count > 0 ? others[random.Next(others.Count)] : null;
            return new SpreadNews(new FactRef(c.Subject, c.Relation), True, old, rumour);
        }).ToList();
        return new SpreadPlan(world, members, network, new SpreadSettings(facts, step.Seeded, step.Rumour, step.Steps, step.Reads, Seeds.Mix(scenario.Seed, "spread", step.Index)));
    }

    /// <summary>The population's metrics from run.db (null for a scenario without a population).</summary>
    public static PopulationMetrics? Metrics(RunDatabase db, Scenario scenario)
    {
        if (scenario.Population is not { } spec) return null;
        var members = spec.Members(scenario.Seed);
        var network = spec.Network(scenario.Seed);
        var groupings = new List<SpreadGrouping>
        {
            new("channel", members.Select(m => UpdatePolicy.NameOf(m.Channel)).ToList()),
            new("base", members.Select(m => spec.Bases[m.Base].Name).ToList()),
            new("keep_own_above", members.Select(m => $"{Math.Floor(m.KeepOwnAbove * 5) / 5:0.0}-{Math.Min(1, Math.Floor(m.KeepOwnAbove * 5) / 5 + 0.2):0.0}").ToList()),
        };
        var world = World.Generate(scenario.WorldSpec);
        var spreads = new List<SpreadStepMetrics>();
        foreach (var step in scenario.Steps.Cast<SpreadStep>())
        {
            var rounds = new SpreadLog(db, step.Index).Rounds();
            if (rounds.Count == 0) continue;
            var plan = Plan(scenario, world, step, members, network);
            var facts = plan.Settings.Facts.Select(f => $"{world[f.Fact.Subject].Name} {f.Fact.Relation}: {f.True.Trim()} (was {f.Old.Trim()}{(f.Rumour is null ? "" : $"; rumour {f.Rumour.Trim()}")})").ToList();
            spreads.Add(new SpreadStepMetrics(step.Index, step.Epoch, facts, SpreadLogs.Summarise(plan, rounds, groupings), Mechanism(plan, rounds, new SpreadLog(db, step.Index).Traces(), members))
            {
                ConformityCircuits = CircuitChanges(db, step, plan, rounds, world, spec, members),
            });
        }
        var empty = new AdoptionCurve([], [], [], []);
        return new PopulationMetrics(members.Count, spec.Bases.Select(b => b.Name).ToList(), SocialNetwork.Statistics(network),
            spreads.LastOrDefault()?.Spread.Adoption ?? empty, spreads);
    }

    /// <summary>Each followed agent's circuit before and after the spread (null: none recorded both).</summary>
    static IReadOnlyList<SpreadCircuitChange>? CircuitChanges(RunDatabase db, SpreadStep step, SpreadPlan plan, IReadOnlyList<SpreadRound> rounds, World world,
        PopulationSpec spec, IReadOnlyList<PopulationMember> members)
    {
        var traces = db.Traces.Find(t => t.Step == step.Index && t.Kind == CircuitKind).ToList();
        var changes = new List<SpreadCircuitChange>();
        foreach (int agent in plan.CircuitAgents(step.CircuitAgents))
        {
            var (before, after) = (traces.FirstOrDefault(t => t.AgentA == $"agent {agent}" && t.Fact == "before"), traces.FirstOrDefault(t => t.AgentA == $"agent {agent}" && t.Fact == "after"));
            if (before is not { Heads.Count: > 0 } || after is not { Heads.Count: > 0 }) continue;
            var (from, to) = (RunMetrics.ConformityCircuits([before]).Single(), RunMetrics.ConformityCircuits([after]).Single());
            var committed = rounds.SelectMany(r => r.Facts.Select((f, i) => (f, i))).Where(x => x.f.Committed[agent] >= 0)
                .Select(x => $"{world[plan.Settings.Facts[x.i].Fact.Subject].Name} {plan.Settings.Facts[x.i].Fact.Relation}: {plan.Questions[x.i].Candidates[x.f.Committed[agent]].Trim()}").Distinct().ToList();
            var (jaccard, correlation) = RunMetrics.Compare(from, to);
            changes.Add(new SpreadCircuitChange(from.Agent, spec.Bases[members[agent].Base].Name, UpdatePolicy.NameOf(members[agent].Channel), committed, from, to, jaccard, correlation));
        }
        return changes.Count == 0 ? null : changes;
    }

    /// <summary>Each round's mechanism records summarised (<see cref="SpreadMechanismRound"/>); null when none was recorded.</summary>
    static IReadOnlyList<SpreadMechanismRound>? Mechanism(SpreadPlan plan, IReadOnlyList<SpreadRound> rounds, IReadOnlyList<SpreadTraceEvent> traces, IReadOnlyList<PopulationMember> members)
    {
        if (traces.Count == 0) return null;
        return traces.GroupBy(t => t.Step).OrderBy(g => g.Key).Select(g =>
        {
            var answers = g.SelectMany(t => SpreadLog.AgentsOf(t).Select(agent => (agent, t))).Select(x =>
            {
                bool conformed = rounds[g.Key].Facts[x.t.Fact].Stated[x.agent] == plan.IndexOf(x.t.Fact, x.t.Trace.PeersAnswer);
                return new TracedAnswer(UpdatePolicy.NameOf(members[x.agent].Channel), conformed, x.t.Trace);
            }).ToList();
            var all = RunMetrics.PeerPressure([.. answers.Select(a => a with { Group = "all" })])!.Single();
            return new SpreadMechanismRound(g.Key, g.Count(), all, RunMetrics.PeerPressure(answers)!, RunMetrics.ConformedVsResisted(answers)!);
        }).ToList();
    }

    static string Shares(SpreadPlan plan, SpreadRound round)
    {
        double Share(Func<SpreadNews, string?> pick) => plan.Settings.Facts.Select((f, i) => pick(f) is { } o
            ? round.Facts[i].Stated.Count(s => s == plan.IndexOf(i, o)) / (double)round.Facts[i].Stated.Length : 0).Average();
        return $"true {Share(f => f.True):P0}, rumour {Share(f => f.Rumour):P0}, old {Share(f => f.Old):P0}";
    }
}
