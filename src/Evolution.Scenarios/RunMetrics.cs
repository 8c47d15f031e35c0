using Evolution.Agents.Protocols;
using Evolution.Agents.Recording;
using Evolution.Core.Evaluation;

namespace Evolution.Scenarios;

/// <summary>Transitions of an agent's answer from one round to the next (MachineSoM): t = right, f = wrong.</summary>
public sealed record Transitions(int TT, int TF, int FT, int FF);

public sealed record RoundMetrics(int Round, double Accuracy, IReadOnlyDictionary<string, double> AccuracyByAgent, double MajorityAccuracy, double DistinctAnswers, double AnswerEntropy,
    Transitions Transitions, int Flips, double? ConformityRate, double? NewAnswerShare);

/// <summary>One debate (one group size in a scaling sweep).
/// <see cref="Network"/>: the degree statistics of the graph the debate ran on (recomputed from the scenario and seed).</summary>
public sealed record DebateMetrics(string Condition, int Agents, int Facts, IReadOnlyList<RoundMetrics> Rounds, double ConsensusShare,
    double? TimeToConsensus, double WrongConsensusRate, double OracleGap, DegreeStatistics? Network = null);

/// <summary>Asch-test results for one agent (or one trait setting): keys are the number of confederates.</summary>
public sealed record ConformityMetrics(string Group, int Facts, double AloneAccuracy, IReadOnlyDictionary<int, double> WrongMajorityAdoption,
    IReadOnlyDictionary<int, double> IndependenceRate, IReadOnlyDictionary<int, double> CorrectionRate)
{
    /// <summary>With one truthful ally among k confederates ("ally=k"): the share of the facts right alone where the agent gives the wrong majority's answer; null without ally conditions.</summary>
    public IReadOnlyDictionary<int, double>? AllyAdoption { get; init; }
}

public sealed record ConvergenceMetrics(int Layer, string Hook, double LinearCka, double MutualKnn);

/// <summary>Circuit similarity of one fact across agents: mean over agent pairs of edge Jaccard and weighted overlap.</summary>
public sealed record CircuitSimilarityMetrics(string Fact, int Pairs, double EdgeJaccard, double WeightedOverlap);

public sealed record UpdateMetrics(string Agent, string Channel, bool Applied, int Facts, long Bytes);

/// <summary>
/// One agent's answers read with peers who said otherwise in one step (their <see cref="Agents.Recording.PeerTraceRecord"/>s):
/// how many, the share that took the peers' answer, the mean move of logit(own) − logit(peers) when the peers spoke and
/// the mean memorization ratio; the component most often first to move towards the peers and the head most often reading
/// them hardest (with the mean share of its attention on them). In a population's spread <see cref="Agent"/> names the
/// agents pooled instead ("all", or an update channel).
/// </summary>
public sealed record PeerPressureMetrics(string Agent, int Answers, double ConformShare, double MeanLogitDifferenceShift, double MeanMemorizationRatio,
    string TopComponent, double TopComponentShare, string TopReader, double TopReaderShare, double MeanTopReaderAttention);

/// <summary>
/// Answers under peer pressure split by outcome (<see cref="Outcome"/> "conformed": the agent gave the peers' answer;
/// "resisted": it kept another), pooled over a step's agents: the mean logit difference logit(own) − logit(peers) alone and
/// with the peers, the mean memorization ratio, the mean attention from the answer position to the peers' statements per
/// layer, and the component (head or MLP, direct logit attribution) most often first to move towards the peers.
/// </summary>
public sealed record PeerPressureSplit(string Outcome, int Answers, double MeanLogitDifferenceAlone, double MeanLogitDifferenceWithPeers,
    double MeanMemorizationRatio, IReadOnlyList<double> AttentionToPeersByLayer, string TopComponent, double TopComponentShare);

public sealed record StepMetrics(int Step, string Protocol, IReadOnlyDictionary<string, double>? AccuracyByAgent = null, double? MeanAccuracy = null,
    double? MajorityAccuracy = null, IReadOnlyList<DebateMetrics>? Debates = null, IReadOnlyList<ConformityMetrics>? ConformityByAgent = null,
    IReadOnlyList<ConformityMetrics>? ConformityByTraits = null, IReadOnlyList<UpdateMetrics>? Updates = null, IReadOnlyList<ConvergenceMetrics>? Convergence = null,
    IReadOnlyList<CircuitSimilarityMetrics>? CircuitSimilarity = null)
{
    /// <summary>Per agent, its answers under peer pressure in this step (null: none was traced).</summary>
    public IReadOnlyList<PeerPressureMetrics>? PeerPressure { get; init; }
    /// <summary>The same answers, conformers against resisters (null: none was traced).</summary>
    public IReadOnlyList<PeerPressureSplit>? ConformedVsResisted { get; init; }
    /// <summary>A conformity step's causal checks, one per intervention (null: none).</summary>
    public IReadOnlyList<InterventionMetrics>? Interventions { get; init; }
    /// <summary>A conformity step's conformity circuit per agent (null: the step measured none).</summary>
    public IReadOnlyList<ConformityCircuitMetrics>? ConformityCircuits { get; init; }
}

/// <summary>
/// One intervention's causal check in a conformity step, pooled over its agents (<see cref="Agent"/> "all", each agent in
/// <see cref="Agents"/>): wrong-majority adoption (of the facts answered right alone, the share given the confederates' answer, over
/// every k) and accuracy alone, for the agents as they are, under the intervention (<see cref="Heads"/>), and under as many random
/// other heads (mean over the draws, and its standard deviation).
/// </summary>
public sealed record InterventionMetrics(string Name, string Agent, string Intervention, double Adoption, double AdoptionAblated, double? AdoptionRandomAblated,
    double? AdoptionRandomAblatedSpread, double AccuracyAlone, double AccuracyAloneAblated, double? AccuracyAloneRandomAblated)
{
    public int Step { get; init; }
    public IReadOnlyList<string>? Heads { get; init; }
    public IReadOnlyList<InterventionMetrics>? Agents { get; init; }
}

/// <summary>
/// An agent's conformity circuit at a conformity step (<c>circuit_facts</c>): its heads ranked by EAP-IG effect towards the wrong
/// majority (<see cref="HeadScores"/>, strongest first), found on <see cref="Contrasts"/> contrasts; <see cref="TopHeads"/> the
/// first quarter of them (at least one), the heads an "auto" intervention would take.
/// </summary>
public sealed record ConformityCircuitMetrics(string Agent, int Contrasts, IReadOnlyList<string> TopHeads, IReadOnlyDictionary<string, double> HeadScores);

/// <summary>
/// How one agent's conformity mechanism changed from one conformity step with a circuit to the next (<see cref="Between"/>: the
/// protocols of the steps in between, such as news or consolidate): its top conformity heads then and now and their overlap
/// (Jaccard), the rank correlation of every head's EAP-IG score (Spearman), wrong-majority adoption over every k (of the facts right
/// alone), and from the mechanism records of the answers read with disagreeing peers, the mean move of logit(own) − logit(peers)
/// when the peers spoke and the mean attention to the peers' statements per layer (null: no answer was traced).
/// </summary>
public sealed record ConformityChange(string Agent, int FromStep, int ToStep, IReadOnlyList<string> Between, IReadOnlyList<string> TopHeadsFrom,
    IReadOnlyList<string> TopHeadsTo, double TopHeadJaccard, double HeadRankCorrelation, double AdoptionFrom, double AdoptionTo,
    double? LogitShiftFrom, double? LogitShiftTo, IReadOnlyList<double>? AttentionToPeersFrom, IReadOnlyList<double>? AttentionToPeersTo);

public sealed record AgentInfo(string Name, string Profile, int TrainingSeed, string Update, double KeepOwnAbove);

/// <summary>
/// A run's results (summary.json). Only outcomes, no timings, so the same scenario and seed give
/// the same summary; costs are in metrics.csv and the report.
/// </summary>
/// <param name="Epochs">Per epoch and agent: accuracy on current facts, stale answers, accuracy on facts that never changed (<see cref="LifelongMetrics"/>); null without news.</param>
public sealed record RunSummary(string Scenario, int Seed, string Status, IReadOnlyList<AgentInfo> Agents, IReadOnlyList<StepMetrics> Steps,
    IReadOnlyDictionary<string, double> MemorizationRatioByChannel, int Answers, int Updates, IReadOnlyList<EpochMetrics>? Epochs = null)
{
    /// <summary>Every conformity step's causal checks (<see cref="StepMetrics.Interventions"/>), in step order; null: none.</summary>
    public IReadOnlyList<InterventionMetrics>? Interventions { get; init; }
    /// <summary>Per agent, how its conformity circuit and its answers under peer pressure changed between consecutive conformity steps
    /// that measured the circuit (<see cref="ConformityChange"/>); null: fewer than two such steps.</summary>
    public IReadOnlyList<ConformityChange>? ConformityOverTime { get; init; }
    /// <summary>A population scenario's metrics (<see cref="Population.PopulationRun.Metrics"/>); null otherwise.</summary>
    public Population.PopulationMetrics? Population { get; init; }
}

/// <summary>Computes a run's metrics from its events (the run database is the single source).</summary>
public static class RunMetrics
{
    public static RunSummary Compute(RunDatabase db, Scenario scenario)
    {
        var answers = db.Answers.FindAll().OrderBy(a => a.Id, StringComparer.Ordinal).ToList();
        var updates = db.Updates.FindAll().OrderBy(u => u.Id, StringComparer.Ordinal).ToList();
        var traces = db.Traces.FindAll().OrderBy(t => t.Id, StringComparer.Ordinal).ToList();
        var steps = new List<StepMetrics>();
        foreach (var step in scenario.Steps)
        {
            var events = answers.Where(a => a.Step == step.Index).ToList();
            steps.Add(step switch
            {
                QuizStep => Quiz(step, events),
                DebateStep debate => new StepMetrics(step.Index, step.Protocol, Debates: events.GroupBy(e => e.Condition)
                    .Select(g => Debate(g) with { Network = Network(debate, g.Key, scenario) }).ToList()),
                ConformityStep conformity => Conformity(step, events, scenario) with
                {
                    Interventions = NullIfEmpty(Interventions(conformity, events)),
                    ConformityCircuits = NullIfEmpty(ConformityCircuits(traces.Where(t => t.Step == step.Index && t.Kind == "conformity-circuit"))),
                },
                ConvergenceStep => new StepMetrics(step.Index, step.Protocol,
                    Convergence: traces.Where(t => t.Step == step.Index && t.Kind == "convergence").GroupBy(t => t.Layer).OrderBy(g => g.Key)
                        .Select(g => new ConvergenceMetrics(g.Key, g.First().Hook, R(g.Average(t => t.LinearCka)), R(g.Average(t => t.MutualKnn)))).ToList(),
                    CircuitSimilarity: traces.Where(t => t.Step == step.Index && t.Kind == "circuit").GroupBy(t => t.Fact).OrderBy(g => g.Key, StringComparer.Ordinal)
                        .Select(g => new CircuitSimilarityMetrics(g.Key, g.Count(), R(g.Average(t => t.EdgeJaccard)), R(g.Average(t => t.WeightedOverlap)))).ToList()),
                SpreadStep => new StepMetrics(step.Index, step.Protocol),
                _ => new StepMetrics(step.Index, step.Protocol, Updates: updates.Where(u => u.Step == step.Index)
                    .Select(u => new UpdateMetrics(u.Agent, u.Channel, u.Applied, u.Facts.Count, u.Bytes)).ToList()),
            } with { PeerPressure = PeerPressure(events), ConformedVsResisted = ConformedVsResisted(events) });
        }

        // Memorization ratio p_old/(p_old + p_new) (Longpre et al. 2021) on changed facts, for the agents that were told the news, by their channel; independent answers only.
        var learnedBy = updates.Where(u => u.Protocol == "news").GroupBy(u => u.Agent).ToDictionary(g => g.Key, g => (g.First().Channel, Facts: g.SelectMany(u => u.Facts).ToHashSet()));
        var ratio = answers.Where(a => a.Previous is not null && a.Round == 0 && a.Peers == 0 && learnedBy.TryGetValue(a.Agent, out var l) && l.Facts.Contains($"{a.Subject}:{a.Relation}"))
            .GroupBy(a => learnedBy[a.Agent].Channel).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => R(g.Select(a => MemorizationRatio.OfProbabilities(a.PreviousProbability, a.TruthProbability)).Where(r => !double.IsNaN(r)).DefaultIfEmpty(double.NaN).Average()));

        var agents = scenario.Agents.Select(a => new AgentInfo(a.Name, Path.GetFileName(a.ProfilePath), a.Profile.Training.Seed,
            Core.Agents.UpdatePolicy.NameOf(a.Profile.Update.Channel), a.Profile.Traits.KeepOwnAbove)).ToList();
        return new RunSummary(scenario.Name, scenario.Seed, db.Info?.Status ?? "unknown", agents, steps, ratio, answers.Count, updates.Count,
            LifelongMetrics.Compute(answers, scenario))
        {
            Population = Population.PopulationRun.Metrics(db, scenario),
            Interventions = NullIfEmpty([.. steps.SelectMany(s => s.Interventions ?? [])]),
            ConformityOverTime = NullIfEmpty(ConformityOverTime(steps, answers, scenario)),
        };
    }

    internal static IReadOnlyList<ConformityCircuitMetrics> ConformityCircuits(IEnumerable<TraceEvent> traces) => traces.OrderBy(t => t.AgentA, StringComparer.Ordinal)
        .Select(t => new ConformityCircuitMetrics(t.AgentA, t.Layer, [.. t.Heads.Take(Math.Max(1, t.Heads.Count / 4))],
            t.Heads.Zip(t.HeadScores).ToDictionary(h => h.First, h => R(h.Second)))).ToList();

    /// <summary>Each agent's <see cref="ConformityChange"/> from every conformity step with its circuit to the next.</summary>
    static IReadOnlyList<ConformityChange> ConformityOverTime(IReadOnlyList<StepMetrics> steps, IReadOnlyList<AnswerEvent> answers, Scenario scenario)
    {
        var measured = steps.Where(s => s.ConformityCircuits is not null).ToList();
        var result = new List<ConformityChange>();
        foreach (var agent in measured.SelectMany(s => s.ConformityCircuits!.Select(c => c.Agent)).Distinct().OrderBy(a => a, StringComparer.Ordinal))
        {
            var series = measured.Select(s => (Step: s.Step, Circuit: s.ConformityCircuits!.FirstOrDefault(c => c.Agent == agent))).Where(x => x.Circuit is not null).ToList();
            for (int i = 1; i < series.Count; i++)
            {
                var (from, to) = (series[i - 1], series[i]);
                var (fromTraces, toTraces) = (PlainTraces(answers, agent, from.Step), PlainTraces(answers, agent, to.Step));
                var (jaccard, correlation) = Compare(from.Circuit!, to.Circuit!);
                result.Add(new ConformityChange(agent, from.Step, to.Step,
                    [.. scenario.Steps.Where(s => s.Index > from.Step && s.Index < to.Step).Select(s => s.Protocol)],
                    from.Circuit!.TopHeads, to.Circuit!.TopHeads, jaccard, correlation,
                    PlainAdoption(answers, agent, from.Step), PlainAdoption(answers, agent, to.Step),
                    LogitShift(fromTraces), LogitShift(toTraces), AttentionToPeers(fromTraces), AttentionToPeers(toTraces)));
            }
        }
        return result;
    }

    /// <summary>Two circuits of one agent compared: their top heads' Jaccard overlap and the Spearman correlation of every head's score.</summary>
    internal static (double TopHeadJaccard, double HeadRankCorrelation) Compare(ConformityCircuitMetrics from, ConformityCircuitMetrics to)
    {
        var shared = from.HeadScores.Keys.Intersect(to.HeadScores.Keys).ToList();
        return (R(Jaccard(from.TopHeads, to.TopHeads)),
            shared.Count < 2 ? double.NaN : R(Mechanisms.Circuits.ExactEdgeScores.Spearman([.. shared.Select(h => (float)from.HeadScores[h])], [.. shared.Select(h => (float)to.HeadScores[h])])));
    }

    static List<AnswerEvent> PlainTraces(IReadOnlyList<AnswerEvent> answers, string agent, int step) =>
        [.. answers.Where(a => a.Step == step && a.Agent == agent && a.PeerTrace is not null && !a.Condition.Contains('@'))];

    static double PlainAdoption(IReadOnlyList<AnswerEvent> answers, string agent, int step) =>
        Adoption([.. answers.Where(a => a.Step == step && a.Agent == agent)], "").Adoption;

    static double? LogitShift(List<AnswerEvent> traced) =>
        traced.Count == 0 ? null : R(traced.Average(e => e.PeerTrace!.LogitDifferenceWithPeers - e.PeerTrace.LogitDifferenceAlone));

    static IReadOnlyList<double>? AttentionToPeers(List<AnswerEvent> traced)
    {
        if (traced.Count == 0) return null;
        int layers = traced.Max(e => e.PeerTrace!.AttentionToPeersByLayer.Count);
        return [.. Enumerable.Range(0, layers).Select(l => R(traced.Where(e => e.PeerTrace!.AttentionToPeersByLayer.Count > l).Average(e => e.PeerTrace!.AttentionToPeersByLayer[l])))];
    }

    static double Jaccard(IReadOnlyCollection<string> a, IReadOnlyCollection<string> b) =>
        a.Count + b.Count == 0 ? double.NaN : a.Intersect(b).Count() / (double)a.Union(b).Count();


    static StepMetrics Quiz(ProtocolStep step, List<AnswerEvent> events) => new(step.Index, step.Protocol,
        AccuracyByAgent: events.GroupBy(e => e.Agent).ToDictionary(g => g.Key, g => Accuracy(g)),
        MeanAccuracy: Accuracy(events), MajorityAccuracy: MajorityAccuracy(events));

    /// <summary>The debate's graph, as <see cref="Agents.Protocols.Debate.Run"/> drew it: the first n participants (condition "n=…"), or all.</summary>
    static DegreeStatistics Network(DebateStep step, string? condition, Scenario scenario)
    {
        var participants = step.Agents ?? scenario.Agents.Select(a => a.Name).ToList();
        // LiteDB reads an empty condition back as null.
        int size = condition is { } c && c.StartsWith("n=", StringComparison.Ordinal) ? int.Parse(c[2..], System.Globalization.CultureInfo.InvariantCulture) : participants.Count;
        var agents = participants.Take(size).ToList();
        return Agents.Protocols.Debate.Statistics(agents, Agents.Protocols.Debate.GroupNetwork(agents, step, scenario.Seed));
    }

    static DebateMetrics Debate(IGrouping<string, AnswerEvent> debate)
    {
        var byRound = debate.GroupBy(e => e.Round).OrderBy(g => g.Key).ToList();
        var agents = debate.Select(e => e.Agent).Distinct().ToList();
        var facts = debate.Select(e => (e.Subject, e.Relation)).Distinct().ToList();
        var rounds = new List<RoundMetrics>();
        for (int r = 0; r < byRound.Count; r++)
        {
            var now = byRound[r].ToList();
            var perFact = now.GroupBy(e => (e.Subject, e.Relation)).ToList();
            int tt = 0, tf = 0, ft = 0, ff = 0, flips = 0, conformed = 0;
            if (r > 0)
            {
                var before = byRound[r - 1].ToDictionary(e => (e.Agent, e.Subject, e.Relation));
                foreach (var e in now)
                {
                    var b = before[(e.Agent, e.Subject, e.Relation)];
                    (tt, tf, ft, ff) = (b.Correct, e.Correct) switch
                    {
                        (true, true) => (tt + 1, tf, ft, ff), (true, false) => (tt, tf + 1, ft, ff),
                        (false, true) => (tt, tf, ft + 1, ff), _ => (tt, tf, ft, ff + 1),
                    };
                    if (b.Answer == e.Answer) continue;
                    flips++;
                    // Conformity: the new answer is what most of the others said in the previous round.
                    var others = byRound[r - 1].Where(x => x.Subject == e.Subject && x.Relation == e.Relation && x.Agent != e.Agent).Select(x => x.Answer).ToList();
                    if (others.Count > 0 && Agents.Protocols.Debate.Majority(others) == e.Answer) conformed++;
                }
            }
            var changed = now.Where(e => e.Previous is not null).ToList();
            rounds.Add(new RoundMetrics(byRound[r].Key, Accuracy(now), now.GroupBy(e => e.Agent).OrderBy(g => agents.IndexOf(g.Key)).ToDictionary(g => g.Key, g => Accuracy(g)), MajorityAccuracy(now), R(perFact.Average(g => g.Select(e => e.Answer).Distinct().Count())),
                R(perFact.Average(g => Entropy(g.Select(e => e.Answer)))), new Transitions(tt, tf, ft, ff), flips,
                r == 0 || flips == 0 ? null : R(conformed / (double)flips), changed.Count == 0 ? null : Accuracy(changed)));
        }
        // Consensus: every agent gives the same answer; the first round where that holds (and stays to the end) per fact.
        var consensusRounds = new List<int>();
        int wrongConsensus = 0, oracleLost = 0;
        foreach (var fact in facts)
        {
            var series = byRound.Select(g => g.Where(e => (e.Subject, e.Relation) == fact).ToList()).ToList();
            bool Agreed(List<AnswerEvent> round) => round.Select(e => e.Answer).Distinct().Count() == 1;
            int first = -1;
            for (int r = series.Count - 1; r >= 0 && Agreed(series[r]); r--) first = r;
            if (first >= 0) consensusRounds.Add(first);
            var final = series[^1];
            if (Agreed(final) && !final[0].Correct) wrongConsensus++;
            if (series[0].Any(e => e.Correct) && Agents.Protocols.Debate.Majority(final.Select(e => e.Answer)) != final[0].Truth) oracleLost++;
        }
        return new DebateMetrics(debate.Key, agents.Count, facts.Count, rounds, R(consensusRounds.Count / (double)facts.Count),
            consensusRounds.Count == 0 ? null : R(consensusRounds.Average()), R(wrongConsensus / (double)facts.Count), R(oracleLost / (double)facts.Count));
    }

    static StepMetrics Conformity(ProtocolStep step, List<AnswerEvent> events, Scenario scenario)
    {
        var keep = scenario.Agents.ToDictionary(a => a.Name, a => a.Profile.Traits.KeepOwnAbove);
        var intervened = events.Where(e => e.Condition.Contains('@')).ToList();
        events = [.. events.Where(e => !e.Condition.Contains('@'))]; // the agents as they are; interventions are measured apart
        var byAgent = events.GroupBy(e => e.Agent).Select(g => Asch(g.Key, g.ToList())).ToList();
        var byTraits = events.GroupBy(e => $"keep_own_above={keep[e.Agent]:0.###}").OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => Asch(g.Key, g.ToList())).ToList();
        return new StepMetrics(step.Index, step.Protocol, ConformityByAgent: byAgent, ConformityByTraits: byTraits);
    }

    /// <summary>
    /// The causal check of each intervention of a conformity step (<see cref="InterventionMetrics"/>): wrong-majority adoption and
    /// accuracy alone of the agents as they are, under the intervention, and under random heads, pooled over the agents and per agent.
    /// </summary>
    static IReadOnlyList<InterventionMetrics> Interventions(ConformityStep step, List<AnswerEvent> events)
    {
        var result = new List<InterventionMetrics>();
        foreach (var spec in step.Interventions)
        {
            var agents = events.Where(e => e.Condition == "alone@" + spec.Name).Select(e => e.Agent).Distinct().OrderBy(a => a, StringComparer.Ordinal).ToList();
            InterventionMetrics For(string? agent)
            {
                var mine = events.Where(e => agent is null ? agents.Contains(e.Agent) : e.Agent == agent).ToList();
                var random = Enumerable.Range(1, spec.RandomDraws).Select(d => Adoption(mine, $"@{spec.Name}~{d}")).ToList();
                var (adoption, accuracy) = Adoption(mine, "");
                var (ablated, accuracyAblated) = Adoption(mine, "@" + spec.Name);
                var heads = mine.Where(e => e.Condition == "alone@" + spec.Name).Select(e => e.Intervention).FirstOrDefault();
                return new InterventionMetrics(spec.Name, agent ?? "all", agent is null ? "" : heads ?? "", adoption, ablated,
                    random.Count == 0 ? null : R(random.Average(r => r.Adoption)), random.Count < 2 ? null : R(StandardDeviation(random.Select(r => r.Adoption))),
                    accuracy, accuracyAblated, random.Count == 0 ? null : R(random.Average(r => r.Accuracy)))
                { Step = step.Index, Heads = agent is null ? null : [.. InterventionHeads(heads)] };
            }
            var perAgent = agents.Select(For).ToList();
            // The pooled row names every head ablated in some agent (each agent's own are in its row).
            result.Add(For(null) with { Agents = perAgent, Heads = [.. perAgent.SelectMany(a => a.Heads ?? []).Distinct().OrderBy(h => Mechanisms.HeadRef.Parse(h)!.Layer).ThenBy(h => Mechanisms.HeadRef.Parse(h)!.Head)] });
        }
        return result;
    }

    /// <summary>The heads an intervention's description names (its last word, e.g. "mean L1H1,L0H2"; none for "every head").</summary>
    static IEnumerable<string> InterventionHeads(string? description) =>
        description is null ? [] : description.Split(' ')[^1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(h => Mechanisms.HeadRef.Parse(h) is not null);

    /// <summary>Wrong-majority adoption over every k (of the facts right alone in the same setting) and accuracy alone, in the conditions ending with <paramref name="suffix"/>.</summary>
    static (double Adoption, double Accuracy) Adoption(List<AnswerEvent> events, string suffix)
    {
        var alone = events.Where(e => e.Condition == "alone" + suffix).ToDictionary(e => (e.Agent, e.Subject, e.Relation));
        static string SuffixOf(string condition) => condition.IndexOf('@') is var at && at >= 0 ? condition[at..] : "";
        var pairs = events.Where(e => e.Condition.StartsWith("wrong=", StringComparison.Ordinal) && SuffixOf(e.Condition) == suffix)
            .Where(e => alone.TryGetValue((e.Agent, e.Subject, e.Relation), out var a) && a.Correct).ToList();
        return (pairs.Count == 0 ? double.NaN : R(pairs.Count(e => e.Answer == e.PeerConsensus) / (double)pairs.Count), Accuracy(alone.Values));
    }

    static double StandardDeviation(IEnumerable<double> values)
    {
        var list = values.ToList();
        double mean = list.Average();
        return Math.Sqrt(list.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, list.Count - 1));
    }

    /// <summary>
    /// Wrong-majority adoption (BenchForm): of the questions an agent answers right alone, the share
    /// where it gives the confederates' wrong answer when k of them say it; independence: the share
    /// where it stays right; correction: of those it answers wrong alone, the share it gets right when
    /// k confederates say the truth.
    /// </summary>
    static ConformityMetrics Asch(string group, List<AnswerEvent> events)
    {
        var alone = events.Where(e => e.Condition == "alone").ToDictionary(e => (e.Agent, e.Subject, e.Relation));
        var adoption = new SortedDictionary<int, double>();
        var independence = new SortedDictionary<int, double>();
        var correction = new SortedDictionary<int, double>();
        var ally = new SortedDictionary<int, double>();
        foreach (var condition in events.Select(e => e.Condition).Where(c => c != "alone").Distinct())
        {
            int k = int.Parse(condition[(condition.IndexOf('=') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            var pairs = events.Where(e => e.Condition == condition).Select(e => (Alone: alone[(e.Agent, e.Subject, e.Relation)], With: e)).ToList();
            if (condition.StartsWith("wrong", StringComparison.Ordinal))
            {
                var right = pairs.Where(p => p.Alone.Correct).ToList();
                adoption[k] = right.Count == 0 ? double.NaN : R(right.Count(p => p.With.Answer == p.With.PeerConsensus) / (double)right.Count);
                independence[k] = right.Count == 0 ? double.NaN : R(right.Count(p => p.With.Correct) / (double)right.Count);
            }
            else if (condition.StartsWith("ally", StringComparison.Ordinal))
            {
                var right = pairs.Where(p => p.Alone.Correct).ToList();
                ally[k] = right.Count == 0 ? double.NaN : R(right.Count(p => p.With.Answer == p.With.PeerMajority) / (double)right.Count);
            }
            else
            {
                var wrong = pairs.Where(p => !p.Alone.Correct).ToList();
                correction[k] = wrong.Count == 0 ? double.NaN : R(wrong.Count(p => p.With.Correct) / (double)wrong.Count);
            }
        }
        if (!adoption.ContainsKey(0) && alone.Count > 0) { adoption[0] = 0; independence[0] = 1; }
        return new ConformityMetrics(group, alone.Count, Accuracy(alone.Values), adoption, independence, correction) { AllyAdoption = ally.Count > 0 ? ally : null };
    }

    static double Accuracy(IEnumerable<AnswerEvent> events)
    {
        var list = events.ToList();
        return list.Count == 0 ? double.NaN : R(list.Count(e => e.Correct) / (double)list.Count);
    }

    static double MajorityAccuracy(IEnumerable<AnswerEvent> events)
    {
        var facts = events.GroupBy(e => (e.Subject, e.Relation, e.Condition)).ToList();
        return facts.Count == 0 ? double.NaN : R(facts.Count(g => Agents.Protocols.Debate.Majority(g.OrderBy(e => e.Agent, StringComparer.Ordinal).Select(e => e.Answer)) == g.First().Truth) / (double)facts.Count);
    }

    static double Entropy(IEnumerable<string> answers)
    {
        var counts = answers.GroupBy(a => a).Select(g => (double)g.Count()).ToList();
        double n = counts.Sum();
        return -counts.Sum(c => c / n * Math.Log2(c / n));
    }

    static IReadOnlyList<T>? NullIfEmpty<T>(IReadOnlyList<T> list) => list.Count == 0 ? null : list;

    /// <summary>Metrics are rounded to 4 decimals, so summaries compare as text.</summary>
    internal static double R(double x) => Math.Round(x, 4);

    static (string Name, double Share) Mode(IEnumerable<string> names)
    {
        var counts = names.GroupBy(n => n).Select(g => (g.Key, g.Count())).OrderByDescending(x => x.Item2).ThenBy(x => x.Key, StringComparer.Ordinal).ToList();
        int total = counts.Sum(c => c.Item2);
        return counts.Count == 0 ? ("", 0) : (counts[0].Key, R(counts[0].Item2 / (double)total));
    }

    static string FirstMover(PeerTraceRecord trace) => trace.TowardsPeers.Count > 0 ? trace.TowardsPeers[0].Split(':')[0] : "";

    static IReadOnlyList<PeerPressureSplit>? ConformedVsResisted(IReadOnlyList<AnswerEvent> events) =>
        ConformedVsResisted(Traced(events));

    static IReadOnlyList<PeerPressureMetrics>? PeerPressure(IReadOnlyList<AnswerEvent> events) => PeerPressure(Traced(events));

    static List<TracedAnswer> Traced(IReadOnlyList<AnswerEvent> events) =>
        events.Where(e => e.PeerTrace is not null).Select(e => new TracedAnswer(e.Agent, e.Answer.TrimStart() == e.PeerTrace!.PeersAnswer, e.PeerTrace!)).ToList();

    /// <summary>Traced answers split by outcome, conformed against resisted (null: none).</summary>
    internal static IReadOnlyList<PeerPressureSplit>? ConformedVsResisted(IReadOnlyList<TracedAnswer> traced)
    {
        if (traced.Count == 0) return null;
        return traced.GroupBy(x => x.Conformed ? "conformed" : "resisted").OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
        {
            var t = g.Select(x => x.Trace).ToList();
            int layers = t.Max(x => x.AttentionToPeersByLayer.Count);
            var (component, share) = Mode(t.Select(FirstMover).Where(c => c != ""));
            return new PeerPressureSplit(g.Key, t.Count, R(t.Average(x => x.LogitDifferenceAlone)), R(t.Average(x => x.LogitDifferenceWithPeers)), R(t.Average(x => x.MemorizationRatio)),
                [.. Enumerable.Range(0, layers).Select(l => R(t.Where(x => x.AttentionToPeersByLayer.Count > l).Average(x => x.AttentionToPeersByLayer[l])))], component, share);
        }).ToList();
    }

    /// <summary>Traced answers summarised per <see cref="TracedAnswer.Group"/> (an agent, or a population's step; null: none).</summary>
    internal static IReadOnlyList<PeerPressureMetrics>? PeerPressure(IReadOnlyList<TracedAnswer> traced)
    {
        if (traced.Count == 0) return null;
        return traced.GroupBy(x => x.Group).OrderBy(g => g.Key, StringComparer.Ordinal).Select(g =>
        {
            var t = g.Select(x => x.Trace).ToList();
            var (component, componentShare) = Mode(t.Select(FirstMover).Where(c => c != ""));
            var (reader, readerShare) = Mode(t.Select(x => x.TopReader));
            return new PeerPressureMetrics(g.Key, t.Count, R(g.Count(x => x.Conformed) / (double)t.Count),
                R(t.Average(x => x.LogitDifferenceWithPeers - x.LogitDifferenceAlone)), R(t.Average(x => x.MemorizationRatio)),
                component, componentShare, reader, readerShare, R(t.Average(x => x.TopReaderShare)));
        }).ToList();
    }
}

/// <summary>An answer with its mechanism record: who gave it (or the group it is summarised in) and whether it took the peers' answer.</summary>
internal sealed record TracedAnswer(string Group, bool Conformed, PeerTraceRecord Trace);

