namespace Evolution.Scenarios.Population;

/// <summary>One agent's stated answer about one fact at one step. Step 0 = the seeding (agents that learned the news or the rumour state it; everyone else states what it believed before, usually the old object).</summary>
public sealed record SpreadStatement(int Step, int Agent, string Fact, string Stated);

/// <summary>What counts as which kind of answer for one fact.</summary>
public sealed record SpreadFact(string Fact, string True, string? Rumour, string Old);

/// <summary>One way to split the agents for breakdowns (update channel, a trait bin): <see cref="GroupOf"/>[i] is agent i's group.</summary>
public sealed record SpreadGrouping(string Name, IReadOnlyList<string> GroupOf);

/// <summary>Per step, the share of agents stating the true object, the rumour, the old object and anything else (the four sum to 1).</summary>
public sealed record AdoptionCurve(IReadOnlyList<double> True, IReadOnlyList<double> Rumour, IReadOnlyList<double> Old, IReadOnlyList<double> Other);

/// <summary>One fact's adoption curve and the first steps at which at least half, and 90%, of the agents state the true object (null: never).</summary>
public sealed record FactAdoption(string Fact, AdoptionCurve Adoption, int? StepTo50, int? StepTo90);

/// <summary>Of the trials in which an agent not stating an object had <see cref="Exposures"/> sources stating it, how many adopted it the next step.</summary>
public sealed record ExposurePoint(int Exposures, int Trials, int Adoptions, double Probability);

/// <summary>The herd curve of one kind of object ("true" or "rumour"): adoption probability by number of exposures, ascending.</summary>
public sealed record HerdCurve(string Kind, IReadOnlyList<ExposurePoint> Points);

/// <summary>
/// The diffusion forest of one kind of object over one fact (<see cref="Cascades"/>). <see cref="Reached"/>: agents that ever
/// stated it (the nodes of all trees); <see cref="Seeds"/>: roots at step 0; <see cref="Spontaneous"/>: roots adopted later
/// with no source stating it; <see cref="Readoptions"/>: statements after a drop, not attributed again;
/// <see cref="Depths"/>: tree depth → number of trees. Viralities are null where no tree has two nodes.
/// </summary>
public sealed record CascadeSummary(string Fact, string Kind, string Object, int Trees, int Seeds, int Spontaneous, int Readoptions, int Reached,
    int LargestSize, double MeanSize, int MaxDepth, int MaxBreadth, IReadOnlyDictionary<int, int> Depths, double? LargestVirality, double? MeanVirality);

/// <summary>The adoption curve (pooled over facts) and herd curves of the agents of one group.</summary>
public sealed record GroupSpread(string Group, int Agents, AdoptionCurve Adoption, int? StepTo50, int? StepTo90, IReadOnlyList<HerdCurve> Herd);

public sealed record GroupingSpread(string Grouping, IReadOnlyList<GroupSpread> Groups);

/// <summary>The spread of an epoch's news (and rumour) through a population: <see cref="SpreadMetrics"/>.</summary>
public sealed record SpreadSummary(int Agents, int Steps, int Facts, AdoptionCurve Adoption, int? StepTo50, int? StepTo90, IReadOnlyList<FactAdoption> ByFact,
    IReadOnlyList<CascadeSummary> Cascades, IReadOnlyList<HerdCurve> Herd, IReadOnlyList<GroupingSpread> Groupings);

/// <summary>
/// Metrics of the spread protocol over its log, with no model: adoption curves and times to 50% / 90% adoption of the truth;
/// diffusion trees and their structural virality (Goel, Anderson, Hofman &amp; Watts 2016, Management Science), which tell
/// broadcast from viral spread; and the herd curve, adoption probability against the number of sources stating an object,
/// the population analogue of Asch's (1951, 1956) conformity curve against the number of confederates. Shares pooled over
/// facts are means of the per-fact shares, so every fact weighs the same; the rumour share of a fact without a rumour is 0.
/// Answers are matched to a fact's objects ordinally, exactly as stated (normalising them is the caller's). Shares,
/// probabilities and viralities are rounded to 4 decimals like the rest of summary.json; the times to 50% / 90% are read
/// off the unrounded shares.
/// </summary>
public static class SpreadMetrics
{
    public const string TrueKind = "true", RumourKind = "rumour";

    /// <summary>Shares reaching this much of the threshold count as reaching it: a mean over facts of exact shares can fall an ulp short.</summary>
    const double Slack = 1e-9;

    enum Said : byte { True, Rumour, Old, Other, Missing = byte.MaxValue }

    /// <summary>
    /// All metrics of a complete log (every agent of <paramref name="neighbours"/> states once per fact per step, steps 0..T).
    /// <paramref name="exposures"/>, when given, holds for every step t ≥ 1, agent and fact the neighbours that agent read at
    /// step t (their statements of step t−1; empty when it read none); the herd curve then counts read sources only, and a
    /// cascade parent is the lowest-index read neighbour stating the object, since an unread one cannot have passed it on.
    /// </summary>
    public static SpreadSummary Compute(IReadOnlyList<SpreadStatement> log, IReadOnlyList<SpreadFact> facts, IReadOnlyList<int>[] neighbours,
        IReadOnlyList<SpreadGrouping>? groupings = null, IReadOnlyDictionary<(int Step, int Agent, string Fact), IReadOnlyList<int>>? exposures = null)
    {
        int agents = neighbours.Length;
        CheckGraph(neighbours);
        groupings ??= [];
        foreach (var g in groupings)
            if (g.GroupOf.Count != agents) throw new ArgumentException($"grouping '{g.Name}' labels {g.GroupOf.Count} agents, the graph has {agents}", nameof(groupings));
        var said = Parse(log, facts, agents);
        int steps = said[0].Length;
        var heard = Heard(neighbours, facts, exposures);
        bool anyRumour = facts.Any(f => f.Rumour is not null);

        var everyone = Enumerable.Range(0, agents).ToArray();
        var byFact = facts.Select((f, i) => Shares(said[i], everyone)).ToList();
        var pooled = Mean(byFact);
        var groups = groupings.Select(g => g.GroupOf.Select((label, agent) => (label, agent)).GroupBy(x => x.label, x => x.agent)
            .OrderBy(x => x.Key, StringComparer.Ordinal).Select(x => (Label: x.Key, Members: x.ToArray())).ToList()).ToList();
        var (herd, herdByGroup) = Herd(said, facts, heard, groupings, groups);

        return new SpreadSummary(agents, steps, facts.Count, Curve(pooled), StepTo(pooled, 0.5), StepTo(pooled, 0.9),
            facts.Select((f, i) => new FactAdoption(f.Fact, Curve(byFact[i]), StepTo(byFact[i], 0.5), StepTo(byFact[i], 0.9))).ToList(),
            CascadeSummaries(said, facts, heard), herd.Curves(anyRumour),
            groupings.Select((g, gi) => new GroupingSpread(g.Name, groups[gi].Select((group, k) =>
            {
                var shares = Mean(said.Select(s => Shares(s, group.Members)).ToList());
                return new GroupSpread(group.Label, group.Members.Length, Curve(shares), StepTo(shares, 0.5), StepTo(shares, 0.9), herdByGroup[gi][k].Curves(anyRumour));
            }).ToList())).ToList());
    }

    /// <summary>The first step at which the true share reaches <paramref name="threshold"/>, or null.</summary>
    static int? StepTo(double[][] shares, double threshold)
    {
        for (int t = 0; t < shares.Length; t++)
            if (shares[t][(int)Said.True] >= threshold - Slack) return t;
        return null;
    }

    /// <summary>[step][kind]: the share of <paramref name="members"/> giving each kind of answer.</summary>
    static double[][] Shares(Said[][] said, int[] members) => said.Select(atStep =>
    {
        var shares = new double[4];
        foreach (var a in members) shares[(int)atStep[a]]++;
        for (int k = 0; k < 4; k++) shares[k] /= members.Length;
        return shares;
    }).ToArray();

    static double[][] Mean(IReadOnlyList<double[][]> perFact) =>
        Enumerable.Range(0, perFact[0].Length).Select(t => Enumerable.Range(0, 4).Select(k => perFact.Average(f => f[t][k])).ToArray()).ToArray();

    static AdoptionCurve Curve(double[][] shares)
    {
        IReadOnlyList<double> Of(Said kind) => shares.Select(s => RunMetrics.R(s[(int)kind])).ToArray();
        return new AdoptionCurve(Of(Said.True), Of(Said.Rumour), Of(Said.Old), Of(Said.Other));
    }

    static List<CascadeSummary> CascadeSummaries(Said[][][] said, IReadOnlyList<SpreadFact> facts, Func<int, int, int, IReadOnlyList<int>> heard)
    {
        var summaries = new List<CascadeSummary>();
        for (int f = 0; f < facts.Count; f++)
            foreach (var (kind, code, answer) in new[] { (TrueKind, Said.True, facts[f].True), (RumourKind, Said.Rumour, facts[f].Rumour) })
            {
                if (answer is null) continue;
                int fact = f;
                var forest = Cascades.Build(said[f].Select(atStep => atStep.Select(s => s == code).ToArray()).ToList(), (t, a) => heard(fact, t, a));
                summaries.Add(Summary(facts[f].Fact, kind, answer, forest));
            }
        return summaries;
    }

    static CascadeSummary Summary(string fact, string kind, string answer, CascadeForest forest)
    {
        var trees = forest.Trees;
        // Ties for the largest tree go to the first one rooted (seeds by agent index, then spontaneous roots by step and agent).
        var largest = trees.Count == 0 ? null : trees.MaxBy(t => t.Size);
        var viral = trees.Where(t => t.Size >= 2).Select(t => t.StructuralVirality!.Value).ToList();
        var depths = new SortedDictionary<int, int>();
        foreach (var t in trees) depths[t.Depth] = depths.GetValueOrDefault(t.Depth) + 1;
        return new CascadeSummary(fact, kind, answer, trees.Count, trees.Count(t => !t.Spontaneous), trees.Count(t => t.Spontaneous), forest.Readoptions,
            trees.Sum(t => t.Size), largest?.Size ?? 0, trees.Count == 0 ? 0 : RunMetrics.R(trees.Average(t => t.Size)),
            trees.Count == 0 ? 0 : trees.Max(t => t.Depth), trees.Count == 0 ? 0 : trees.Max(t => t.MaxBreadth), depths,
            largest?.StructuralVirality is { } v ? RunMetrics.R(v) : null, viral.Count == 0 ? null : RunMetrics.R(viral.Average()));
    }

    /// <summary>Trials and adoptions by number of exposures, for the true object (0) and the rumour (1).</summary>
    sealed class HerdTally
    {
        readonly List<(int Trials, int Adoptions)>[] byKind = [[], []];

        public void Add(int kind, int exposures, bool adopted)
        {
            var points = byKind[kind];
            while (points.Count <= exposures) points.Add((0, 0));
            points[exposures] = (points[exposures].Trials + 1, points[exposures].Adoptions + (adopted ? 1 : 0));
        }

        public IReadOnlyList<HerdCurve> Curves(bool rumour) => new[] { TrueKind, RumourKind }.Take(rumour ? 2 : 1).Select((kind, k) => new HerdCurve(kind,
            byKind[k].Select((p, exposures) => (p, exposures)).Where(x => x.p.Trials > 0)
                .Select(x => new ExposurePoint(x.exposures, x.p.Trials, x.p.Adoptions, RunMetrics.R(x.p.Adoptions / (double)x.p.Trials))).ToList())).ToList();
    }

    /// <summary>
    /// Asch (1951, 1956) measured yielding against the number of confederates; here every (agent, fact, step t ≥ 1, object X)
    /// in which the agent did not state X at t−1 is one trial at k = its sources stating X at t−1, a success when it states X
    /// at t. The rumour is tried only on facts that have one.
    /// </summary>
    static (HerdTally All, HerdTally[][] ByGroup) Herd(Said[][][] said, IReadOnlyList<SpreadFact> facts, Func<int, int, int, IReadOnlyList<int>> heard,
        IReadOnlyList<SpreadGrouping> groupings, List<List<(string Label, int[] Members)>> groups)
    {
        var all = new HerdTally();
        var byGroup = groups.Select(g => g.Select(_ => new HerdTally()).ToArray()).ToArray();
        // Per grouping, each agent's group index, so a trial finds its tallies without a lookup by label.
        var groupIndex = groups.Select(g =>
        {
            var index = new int[said[0][0].Length];
            for (int k = 0; k < g.Count; k++)
                foreach (var a in g[k].Members) index[a] = k;
            return index;
        }).ToArray();

        for (int f = 0; f < facts.Count; f++)
        {
            bool rumour = facts[f].Rumour is not null;
            for (int t = 1; t < said[f].Length; t++)
            {
                var (before, now) = (said[f][t - 1], said[f][t]);
                for (int a = 0; a < before.Length; a++)
                {
                    var sources = heard(f, t, a); // every agent's sources, so exposures are all checked
                    int[] exposed = [0, 0];
                    foreach (var n in sources)
                        if (before[n] is Said.True or Said.Rumour) exposed[(int)before[n]]++;
                    for (int kind = 0; kind < (rumour ? 2 : 1); kind++)
                    {
                        if (before[a] == (Said)kind) continue;
                        bool adopted = now[a] == (Said)kind;
                        all.Add(kind, exposed[kind], adopted);
                        for (int g = 0; g < groupings.Count; g++) byGroup[g][groupIndex[g][a]].Add(kind, exposed[kind], adopted);
                    }
                }
            }
        }
        return (all, byGroup);
    }

    /// <summary>Who agent a heard about fact f at step t: all its neighbours, or the ones it read (checked to be distinct neighbours).</summary>
    static Func<int, int, int, IReadOnlyList<int>> Heard(IReadOnlyList<int>[] neighbours, IReadOnlyList<SpreadFact> facts,
        IReadOnlyDictionary<(int Step, int Agent, string Fact), IReadOnlyList<int>>? exposures)
    {
        if (exposures is null) return (_, _, a) => neighbours[a];
        var seen = new int[neighbours.Length];
        int stamp = 0;
        return (f, t, a) =>
        {
            string Where() => $"step {t}, agent {a}, fact '{facts[f].Fact}'";
            if (!exposures.TryGetValue((t, a, facts[f].Fact), out var read)) throw new ArgumentException($"no exposures at {Where()}", nameof(exposures));
            stamp++;
            foreach (var n in read)
            {
                if (n < 0 || n >= neighbours.Length || !Contains(neighbours[a], n))
                    throw new ArgumentException($"at {Where()} agent {a} read agent {n}, not one of its neighbours", nameof(exposures));
                if (seen[n] == stamp) throw new ArgumentException($"at {Where()} agent {a} read agent {n} twice", nameof(exposures));
                seen[n] = stamp;
            }
            return read;
        };
    }

    static bool Contains(IReadOnlyList<int> ascending, int value)
    {
        var (lo, hi) = (0, ascending.Count - 1);
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ascending[mid] == value) return true;
            if (ascending[mid] < value) lo = mid + 1;
            else hi = mid - 1;
        }
        return false;
    }

    /// <summary>
    /// [fact][step][agent]: what kind of answer each statement is, after checking the log is complete. A step holding other than
    /// agents × facts statements has a gap or a duplicate, so that step alone is laid out to name it; this way a stray large
    /// step number costs no more memory than the log itself.
    /// </summary>
    static Said[][][] Parse(IReadOnlyList<SpreadStatement> log, IReadOnlyList<SpreadFact> facts, int agents)
    {
        if (facts.Count == 0) throw new ArgumentException("no facts", nameof(facts));
        var factIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int f = 0; f < facts.Count; f++)
        {
            var (name, truth, rumour, old) = facts[f];
            if (!factIndex.TryAdd(name, f)) throw new ArgumentException($"fact '{name}' is listed twice", nameof(facts));
            if (truth == old || rumour == truth || rumour == old)
                throw new ArgumentException($"fact '{name}': the true object, the rumour and the old object must differ ('{truth}', '{rumour}', '{old}')", nameof(facts));
        }
        if (log.Count == 0) throw new ArgumentException("the log is empty", nameof(log));
        var perStep = new Dictionary<int, int>();
        foreach (var s in log)
        {
            if (s.Step < 0 || s.Agent < 0 || s.Agent >= agents || !factIndex.ContainsKey(s.Fact))
                throw new ArgumentException($"statement at step {s.Step} by agent {s.Agent} about fact '{s.Fact}': no such step, agent (0..{agents - 1}) or fact", nameof(log));
            perStep[s.Step] = perStep.GetValueOrDefault(s.Step) + 1;
        }
        int steps = perStep.Keys.Max() + 1, full = agents * facts.Count;
        for (int t = 0; t < steps; t++)
            if (perStep.GetValueOrDefault(t) != full) Lay(log.Where(s => s.Step == t), t, t + 1);
        return Lay(log, 0, steps);

        // Lays out the statements of steps [from, to) and throws at the first duplicate, then the first gap (by step, fact, agent).
        Said[][][] Lay(IEnumerable<SpreadStatement> statements, int from, int to)
        {
            var said = facts.Select(_ => Enumerable.Range(from, to - from).Select(_ => Enumerable.Repeat(Said.Missing, agents).ToArray()).ToArray()).ToArray();
            foreach (var s in statements)
            {
                int f = factIndex[s.Fact];
                ref var slot = ref said[f][s.Step - from][s.Agent];
                if (slot != Said.Missing) throw new ArgumentException($"duplicate statement at step {s.Step} by agent {s.Agent} about fact '{s.Fact}'", nameof(log));
                var fact = facts[f];
                slot = s.Stated == fact.True ? Said.True : s.Stated == fact.Rumour ? Said.Rumour : s.Stated == fact.Old ? Said.Old : Said.Other;
            }
            for (int t = from; t < to; t++)
                for (int f = 0; f < facts.Count; f++)
                {
                    int a = Array.IndexOf(said[f][t - from], Said.Missing);
                    if (a >= 0) throw new ArgumentException($"no statement at step {t} by agent {a} about fact '{facts[f].Fact}'", nameof(log));
                }
            return said;
        }
    }

    static void CheckGraph(IReadOnlyList<int>[] neighbours)
    {
        if (neighbours.Length == 0) throw new ArgumentException("the graph has no agents", nameof(neighbours));
        for (int a = 0; a < neighbours.Length; a++)
            for (int i = 0; i < neighbours[a].Count; i++)
            {
                int n = neighbours[a][i];
                if (n < 0 || n >= neighbours.Length || n == a) throw new ArgumentException($"agent {a} has neighbour {n}, not another agent of the graph", nameof(neighbours));
                if (i > 0 && n <= neighbours[a][i - 1]) throw new ArgumentException($"agent {a}'s neighbours are not ascending and distinct", nameof(neighbours));
            }
    }
}
