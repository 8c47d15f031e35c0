using System.Text.Json;
using Evolution.Scenarios.Population;

namespace Evolution.Scenarios.Tests;

/// <summary>
/// The spread metrics on hand-made graphs and logs, every expected number worked out in the comments: adoption curves and
/// times to 50/90%, diffusion trees and their structural virality (Goel et al. 2016), the herd curve (Asch 1951/1956),
/// breakdowns by group, and the rejection of incomplete logs.
/// </summary>
public class SpreadMetricsTests
{
    /// <summary>A log row per step, a character per agent: T the true object, R the rumour, O the old object, x anything else.</summary>
    static List<SpreadStatement> Log(string fact, params string[] steps) =>
        steps.SelectMany((row, t) => row.Select((c, a) => new SpreadStatement(t, a, fact, c switch
        {
            'T' => "new", 'R' => "rumour", 'O' => "old", _ => "other",
        }))).ToList();

    static SpreadFact Fact(string name, bool rumour = false) => new(name, "new", rumour ? "rumour" : null, "old");

    static IReadOnlyList<int>[] Graph(int agents, params (int A, int B)[] edges) => Enumerable.Range(0, agents)
        .Select(a => (IReadOnlyList<int>)edges.Where(e => e.A == a || e.B == a).Select(e => e.A == a ? e.B : e.A).Order().ToList()).ToArray();

    static IReadOnlyList<int>[] Path(int agents) => Graph(agents, Enumerable.Range(0, agents - 1).Select(i => (i, i + 1)).ToArray());

    static IReadOnlyList<int>[] Star(int agents) => Graph(agents, Enumerable.Range(1, agents - 1).Select(i => (0, i)).ToArray());

    static void AssertCurve(double[] expected, IReadOnlyList<double> actual)
    {
        Assert.Equal(expected.Length, actual.Count);
        for (int t = 0; t < expected.Length; t++) Assert.True(Math.Abs(expected[t] - actual[t]) < 1e-4, $"step {t}: expected {expected[t]}, got {actual[t]}");
    }

    static void AssertHerd(HerdCurve curve, params (int K, int Trials, int Adoptions)[] expected) =>
        Assert.Equal(expected.Select(e => $"{e.K}:{e.Adoptions}/{e.Trials}"), curve.Points.Select(p => $"{p.Exposures}:{p.Adoptions}/{p.Trials}"));

    // Path 0–1–2–3–4, agent 0 seeded: the news walks one hop per step.
    static readonly string[] Walk = ["TOOOO", "TTOOO", "TTTOO", "TTTTO", "TTTTT"];

    [Fact]
    public void NewsWalkingAPathMakesOneChainWhoseDepthIsTheStepsAndWhoseViralityIsNPlusOneOverThree()
    {
        var summary = SpreadMetrics.Compute(Log("f", Walk), [Fact("f")], Path(5));

        // True share 1/5 more each step; 50% first at step 2 (0.6), 90% at step 4 (1.0).
        AssertCurve([0.2, 0.4, 0.6, 0.8, 1.0], summary.Adoption.True);
        AssertCurve([0.8, 0.6, 0.4, 0.2, 0.0], summary.Adoption.Old);
        AssertCurve([0, 0, 0, 0, 0], summary.Adoption.Rumour);
        Assert.Equal((5, 5, 1), (summary.Agents, summary.Steps, summary.Facts));
        Assert.Equal(2, summary.StepTo50);
        Assert.Equal(4, summary.StepTo90);

        // One tree 0→1→2→3→4: depth 4 = the steps, breadth 1. Wiener index 1·4 + 2·3 + 3·2 + 4·1 = 20 over 10 pairs: ν = 2 = (5 + 1)/3.
        var cascade = Assert.Single(summary.Cascades);
        Assert.Equal(("f", "true", "new"), (cascade.Fact, cascade.Kind, cascade.Object));
        Assert.Equal((1, 1, 0, 0, 5, 5), (cascade.Trees, cascade.Seeds, cascade.Spontaneous, cascade.Readoptions, cascade.Reached, cascade.LargestSize));
        Assert.Equal((4, 1), (cascade.MaxDepth, cascade.MaxBreadth));
        Assert.Equal(new Dictionary<int, int> { [4] = 1 }, cascade.Depths);
        Assert.Equal(2.0, cascade.LargestVirality!.Value, 4);
        Assert.Equal(2.0, cascade.MeanVirality!.Value, 4);

        var tree = Assert.Single(Cascades.Build(Log("f", Walk).GroupBy(s => s.Step).Select(g => g.Select(s => s.Stated == "new").ToArray()).ToList(), Path(5)).Trees);
        Assert.Equal([(0, 0, -1), (1, 1, 0), (2, 2, 1), (3, 3, 2), (4, 4, 3)], tree.Nodes.Select(n => (n.Agent, n.Step, n.Parent)));
        Assert.Equal(20, tree.WienerIndex);

        // Trials (not stating the news the step before): with one source stating it (1 at t=1, 2 at t=2, 3 at t=3, 4 at t=4)
        // all four adopt; with none (2, 3, 4 at t=1; 3, 4 at t=2; 4 at t=3) none of the six does. No rumour, no rumour curve.
        var herd = Assert.Single(summary.Herd);
        Assert.Equal("true", herd.Kind);
        AssertHerd(herd, (0, 6, 0), (1, 4, 4));
        Assert.Equal([0.0, 1.0], herd.Points.Select(p => p.Probability));
    }

    [Fact]
    public void AHubTellingEveryLeafMakesADepthOneTreeOfVirality2NMinus1OverN()
    {
        // Star of 5, the hub seeded, every leaf adopts at step 1: one tree, depth 1, the 4 leaves at depth 1.
        // Wiener index: 4 hub–leaf pairs at distance 1 + 6 leaf–leaf pairs at distance 2 = 16 = (n−1)²; over 10 pairs ν = 1.6 = 2(n−1)/n.
        var summary = SpreadMetrics.Compute(Log("f", "TOOOO", "TTTTT"), [Fact("f")], Star(5));
        var cascade = Assert.Single(summary.Cascades);
        Assert.Equal((1, 5, 1, 4), (cascade.Trees, cascade.LargestSize, cascade.MaxDepth, cascade.MaxBreadth));
        Assert.Equal(1.6, cascade.LargestVirality!.Value, 4);
        Assert.Equal(1, summary.StepTo50); // 20% at step 0, everyone at step 1
        Assert.Equal(1, summary.StepTo90);
        AssertHerd(Assert.Single(summary.Herd), (1, 4, 4));
    }

    [Fact]
    public void AnAdopterWithNoSourceStartsASpontaneousTreeAndTwoSourcesAttributeToTheLowerIndex()
    {
        // Path 0–1–2–3–4, agent 0 seeded. Step 1: 1 adopts from 0; 4 adopts although its only neighbour 3 stated the old object
        // (spontaneous: a new tree rooted at 4). Step 2: 2 adopts from 1; 3 adopts from 4 (2 did not state it at step 1).
        // Trees: 0→1→2 (size 3, depth 2, a path of 3: ν = 4/3) and 4→3 (size 2, depth 1, ν = 1). Mean size 2.5, mean ν 7/6.
        var summary = SpreadMetrics.Compute(Log("f", "TOOOO", "TTOOT", "TTTTT"), [Fact("f")], Path(5));
        var cascade = Assert.Single(summary.Cascades);
        Assert.Equal((2, 1, 1, 5, 3, 2.5), (cascade.Trees, cascade.Seeds, cascade.Spontaneous, cascade.Reached, cascade.LargestSize, cascade.MeanSize));
        Assert.Equal(new Dictionary<int, int> { [1] = 1, [2] = 1 }, cascade.Depths);
        Assert.Equal(4 / 3.0, cascade.LargestVirality!.Value, 4);
        Assert.Equal(7 / 6.0, cascade.MeanVirality!.Value, 4);

        var trees = Cascades.Build([[true, false, false, false, false], [true, true, false, false, true], [true, true, true, true, true]], Path(5)).Trees;
        Assert.Equal((0, false, 1, true), (trees[0].Root, trees[0].Spontaneous, trees[1].Step, trees[1].Spontaneous));
        Assert.Equal([(4, 1, -1), (3, 2, 4)], trees[1].Nodes.Select(n => (n.Agent, n.Step, n.Parent)));

        // Agent 2 hears seeds 0 and 1 (edges 0–2, 1–2): it is attributed to 0. Trees {0, 2} and the lone seed {1}:
        // the single node has no virality, so the mean over trees of two or more nodes is the pair's 1.
        var two = SpreadMetrics.Compute(Log("g", "TTO", "TTT"), [Fact("g")], Graph(3, (0, 2), (1, 2)));
        var forest = Cascades.Build([[true, true, false], [true, true, true]], Graph(3, (0, 2), (1, 2)));
        Assert.Equal([(0, 0, -1), (2, 1, 0)], forest.Trees[0].Nodes.Select(n => (n.Agent, n.Step, n.Parent)));
        Assert.Null(forest.Trees[1].StructuralVirality);
        var c = Assert.Single(two.Cascades);
        Assert.Equal((2, 2, 0, 2), (c.Trees, c.Seeds, c.Spontaneous, c.LargestSize));
        Assert.Equal(1.0, c.MeanVirality!.Value, 4);
        Assert.Equal(new Dictionary<int, int> { [0] = 1, [1] = 1 }, c.Depths);
    }

    [Fact]
    public void AnAgentThatDropsTheNewsAndStatesItAgainIsAttributedOnlyOnce()
    {
        // Path 0–1–2. Step 1: 1 adopts from 0. Step 2: 1 drops it, 2 adopts from 1 (which stated it at step 1). Step 3: 1
        // states it again: a readoption, no second node. One tree 0→1→2 of 3 nodes, depth 2.
        var summary = SpreadMetrics.Compute(Log("f", "TOO", "TTO", "TOT", "TTT"), [Fact("f")], Path(3));
        var cascade = Assert.Single(summary.Cascades);
        Assert.Equal((1, 0, 1, 3, 3, 2), (cascade.Trees, cascade.Spontaneous, cascade.Readoptions, cascade.Reached, cascade.LargestSize, cascade.MaxDepth));
        AssertCurve([1 / 3.0, 2 / 3.0, 2 / 3.0, 1], summary.Adoption.True);

        // Trials: t=1 agent 1 (k=1, adopts), agent 2 (k=0, does not); t=2 agent 2 (k=1, adopts); t=3 agent 1 between 0 and 2 (k=2, adopts again).
        AssertHerd(Assert.Single(summary.Herd), (0, 1, 0), (1, 2, 2), (2, 1, 1));
    }

    [Fact]
    public void ARumourCompetesWithTheTruthAndBothAreMeasured()
    {
        // Path 0–1–2–3–4: truth seeded at 0, rumour at 4. Step 1: 1 takes the truth, 3 the rumour. Step 2: 2, between them, takes the truth.
        var summary = SpreadMetrics.Compute(Log("f", "TOOOR", "TTORR", "TTTRR"), [Fact("f", rumour: true)], Path(5));
        AssertCurve([0.2, 0.4, 0.6], summary.Adoption.True);
        AssertCurve([0.2, 0.4, 0.4], summary.Adoption.Rumour);
        AssertCurve([0.6, 0.2, 0.0], summary.Adoption.Old);
        Assert.Equal(2, summary.StepTo50);
        Assert.Null(summary.StepTo90);

        Assert.Equal(["true", "rumour"], summary.Cascades.Select(c => c.Kind));
        var (truth, rumour) = (summary.Cascades[0], summary.Cascades[1]);
        Assert.Equal((1, 3, 2), (truth.Trees, truth.LargestSize, truth.MaxDepth));
        Assert.Equal(("rumour", 1, 2, 1), (rumour.Object, rumour.Trees, rumour.LargestSize, rumour.MaxDepth));
        Assert.Equal(1.0, rumour.LargestVirality!.Value, 4);

        // Truth trials: t=1 agents 1 (k=1, adopts), 2, 3, 4 (k=0); t=2 agents 2 (k=1, adopts), 3, 4 (k=0, agent 3 hears only 2 and 4).
        // Rumour trials: t=1 agents 0, 1, 2 (k=0), 3 (k=1, adopts); t=2 agents 0, 1 (k=0), 2 (k=1 from 3, takes the truth instead).
        Assert.Equal(["true", "rumour"], summary.Herd.Select(h => h.Kind));
        AssertHerd(summary.Herd[0], (0, 5, 0), (1, 2, 2));
        AssertHerd(summary.Herd[1], (0, 5, 0), (1, 2, 1));
        Assert.Equal(0.5, summary.Herd[1].Points[1].Probability);
    }

    [Fact]
    public void TimesTo50And90PercentArePerFactAndOnThePooledCurveAndNullWhenNeverReached()
    {
        // Four agents (no edges needed for the curves). Fact a: true share .25, .5, 1, 1: 50% at step 1 (exactly half counts), 90% at 2.
        // Fact b: .25, .25, .5, .75 with one agent answering something else from step 1: 50% at step 2, never 90%.
        // Pooled (the mean of the two): .25, .375, .75, .875: 50% at step 2, never 90%; other .0, .125, .125, .125.
        var log = Log("a", "TOOO", "TTOO", "TTTT", "TTTT").Concat(Log("b", "TOOO", "TOOx", "TTOx", "TTTx")).ToList();
        var summary = SpreadMetrics.Compute(log, [Fact("a"), Fact("b")], Graph(4));
        Assert.Equal(["a: 1, 2", "b: 2, never"], summary.ByFact.Select(f => $"{f.Fact}: {f.StepTo50}, {f.StepTo90?.ToString() ?? "never"}"));
        AssertCurve([0.25, 0.375, 0.75, 0.875], summary.Adoption.True);
        AssertCurve([0, 0.125, 0.125, 0.125], summary.Adoption.Other);
        AssertCurve([0.75, 0.5, 0.125, 0], summary.Adoption.Old);
        AssertCurve([0.25, 0.25, 0.5, 0.75], summary.ByFact[1].Adoption.True);
        Assert.Equal(2, summary.StepTo50);
        Assert.Null(summary.StepTo90);
    }

    [Fact]
    public void TheHerdCurveCountsExposuresFromAllNeighboursOrOnlyFromThoseRead()
    {
        // Star: hub 0 with neighbours 1, 2, 3; 1 and 2 state the news at step 0, 3 the old object. At step 1 the hub adopts.
        // Hub: one trial at k = 2 of its 3 neighbours, adopted; leaf 3 (hears only the hub, old at step 0): one trial at k = 0, not adopted.
        var log = Log("f", "OTTO", "TTTO");
        var all = SpreadMetrics.Compute(log, [Fact("f")], Star(4));
        AssertHerd(Assert.Single(all.Herd), (0, 1, 0), (2, 1, 1));
        Assert.Equal((2, 0, 2), (all.Cascades[0].Trees, all.Cascades[0].Spontaneous, all.Cascades[0].LargestSize)); // the hub joins a seed's tree
        var hub = Cascades.Build([[false, true, true, false], [true, true, true, false]], Star(4)).Trees[0];
        Assert.Equal((1, 0, 1), (hub.Root, hub.Nodes[1].Agent, hub.Nodes[1].Parent)); // lowest-index source: 1

        // The hub read only 3 and 2: k = 1, and its tree parent is 2 (it never read 1). Leaves read the hub.
        var reads = new Dictionary<(int Step, int Agent, string Fact), IReadOnlyList<int>>
        {
            [(1, 0, "f")] = [3, 2], [(1, 1, "f")] = [0], [(1, 2, "f")] = [0], [(1, 3, "f")] = [0],
        };
        var read = SpreadMetrics.Compute(log, [Fact("f")], Star(4), exposures: reads);
        AssertHerd(Assert.Single(read.Herd), (0, 1, 0), (1, 1, 1));
        Assert.Equal((2, 0, 2), (read.Cascades[0].Trees, read.Cascades[0].Spontaneous, read.Cascades[0].LargestSize));
        var readTree = Cascades.Build([[false, true, true, false], [true, true, true, false]], (_, a) => a == 0 ? [3, 2] : [0]).Trees[1];
        Assert.Equal([(2, 0, -1), (0, 1, 2)], readTree.Nodes.Select(n => (n.Agent, n.Step, n.Parent)));

        // Having read only the old-stating leaf, the hub's adoption had no source: k = 0 and a spontaneous root.
        reads[(1, 0, "f")] = [3];
        var unexposed = SpreadMetrics.Compute(log, [Fact("f")], Star(4), exposures: reads);
        AssertHerd(Assert.Single(unexposed.Herd), (0, 2, 1));
        Assert.Equal((3, 1), (unexposed.Cascades[0].Trees, unexposed.Cascades[0].Spontaneous));

        reads[(1, 1, "f")] = [2];
        var notNeighbour = Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(log, [Fact("f")], Star(4), exposures: reads));
        Assert.Contains("step 1, agent 1, fact 'f'", notNeighbour.Message);
        Assert.Contains("read agent 2", notNeighbour.Message);
        reads.Remove((1, 1, "f"));
        var missing = Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(log, [Fact("f")], Star(4), exposures: reads));
        Assert.Contains("no exposures at step 1, agent 1, fact 'f'", missing.Message);
    }

    [Fact]
    public void EveryGroupingBreaksTheCurvesDownByItsGroups()
    {
        // The walk along the path 0–1–2–3–4 (see the first test), split two ways.
        // channel: rag = {0, 1}: true share .5, 1, 1, 1, 1 (50% at 0, 90% at 1); rome = {2, 3, 4}: 0, 0, 1/3, 2/3, 1 (50% at 3, 90% at 4).
        // bin (ordered by name): hi = {1, 3}: 0, .5, .5, 1, 1 (1, 3); lo = {0, 2, 4}: 1/3, 1/3, 2/3, 2/3, 1 (2, 4).
        var groupings = new[]
        {
            new SpreadGrouping("channel", ["rag", "rag", "rome", "rome", "rome"]),
            new SpreadGrouping("bin", ["lo", "hi", "lo", "hi", "lo"]),
        };
        var summary = SpreadMetrics.Compute(Log("f", Walk), [Fact("f")], Path(5), groupings);
        Assert.Equal(["channel", "bin"], summary.Groupings.Select(g => g.Grouping));
        var (channel, bin) = (summary.Groupings[0].Groups, summary.Groupings[1].Groups);
        Assert.Equal([("rag", 2, 0, 1), ("rome", 3, 3, 4)], channel.Select(g => (g.Group, g.Agents, g.StepTo50!.Value, g.StepTo90!.Value)));
        Assert.Equal([("hi", 2, 1, 3), ("lo", 3, 2, 4)], bin.Select(g => (g.Group, g.Agents, g.StepTo50!.Value, g.StepTo90!.Value)));
        AssertCurve([0, 0, 1 / 3.0, 2 / 3.0, 1], channel[1].Adoption.True);
        AssertCurve([1 / 3.0, 1 / 3.0, 2 / 3.0, 2 / 3.0, 1], bin[1].Adoption.True);

        // The pooled trials (k=0: 6, none adopt; k=1: 4, all adopt) split: rag has agent 1's one trial at t=1 (k=1); rome the rest.
        AssertHerd(Assert.Single(channel[0].Herd), (1, 1, 1));
        AssertHerd(Assert.Single(channel[1].Herd), (0, 6, 0), (1, 3, 3));

        var wrongSize = Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(Log("f", Walk), [Fact("f")], Path(5), [new SpreadGrouping("x", ["a"])]));
        Assert.Contains("grouping 'x'", wrongSize.Message);
    }

    [Fact]
    public void ALogWithAGapOrADuplicateIsRejectedNamingStepAgentAndFact()
    {
        var facts = new[] { Fact("f"), Fact("g") };
        var complete = Log("f", Walk).Concat(Log("g", Walk)).ToList();
        Assert.Equal(5, SpreadMetrics.Compute(complete, facts, Path(5)).Steps);

        var gap = complete.Where(s => !(s.Step == 2 && s.Agent == 3 && s.Fact == "g")).ToList();
        Assert.Contains("no statement at step 2 by agent 3 about fact 'g'", Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(gap, facts, Path(5))).Message);

        var duplicate = complete.Append(new SpreadStatement(1, 2, "f", "old")).ToList();
        Assert.Contains("duplicate statement at step 1 by agent 2 about fact 'f'", Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(duplicate, facts, Path(5))).Message);

        // A duplicate in place of another statement of the same step: the step's count is right, the layout still finds it.
        var swapped = complete.Select(s => s.Step == 3 && s.Agent == 4 && s.Fact == "f" ? s with { Agent = 0 } : s).ToList();
        Assert.Contains("duplicate statement at step 3 by agent 0 about fact 'f'", Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(swapped, facts, Path(5))).Message);

        // A stray statement far ahead: step 5 is the first missing one.
        var stray = complete.Append(new SpreadStatement(1_000_000, 1, "f", "new")).ToList();
        Assert.Contains("no statement at step 5 by agent 0 about fact 'f'", Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(stray, facts, Path(5))).Message);

        var unknown = complete.Append(new SpreadStatement(0, 1, "h", "new")).ToList();
        Assert.Contains("fact 'h'", Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(unknown, facts, Path(5))).Message);
        var outside = complete.Append(new SpreadStatement(0, 5, "f", "new")).ToList();
        Assert.Contains("agent 5", Assert.Throws<ArgumentException>(() => SpreadMetrics.Compute(outside, facts, Path(5))).Message);
    }

    [Fact]
    public void TheLinearWienerIndexEqualsAllPairsBreadthFirstSearchOnRandomTrees()
    {
        var random = new Random(14);
        for (int trial = 0; trial < 20; trial++)
        {
            // A random recursive tree on shuffled labels, so parents do not come before their children in numbering.
            int n = random.Next(150, 250);
            var label = Enumerable.Range(0, n).OrderBy(_ => random.Next()).ToArray();
            var parent = new int[n];
            parent[label[0]] = -1;
            for (int i = 1; i < n; i++) parent[label[i]] = label[random.Next(i)];

            var adjacent = Enumerable.Range(0, n).Select(_ => new List<int>()).ToArray();
            for (int v = 0; v < n; v++)
                if (parent[v] >= 0) { adjacent[v].Add(parent[v]); adjacent[parent[v]].Add(v); }
            long sum = 0;
            int[] fromRoot = [];
            for (int source = 0; source < n; source++)
            {
                var distance = Enumerable.Repeat(-1, n).ToArray();
                var queue = new Queue<int>([source]);
                distance[source] = 0;
                while (queue.TryDequeue(out var v))
                    foreach (var w in adjacent[v].Where(w => distance[w] < 0)) { distance[w] = distance[v] + 1; queue.Enqueue(w); }
                sum += distance.Sum();
                if (source == label[0]) fromRoot = distance;
            }
            Assert.Equal(sum / 2, Cascades.WienerIndex(parent));
            Assert.Equal((fromRoot.Max(), fromRoot.CountBy(d => d).Max(g => g.Value)), Cascades.Shape(parent));
        }

        // A path of 10,000 nodes: Wiener index n(n²−1)/6 ≈ 1.7·10¹¹, beyond an int; ν = (n+1)/3.
        const int length = 10_000;
        var path = Enumerable.Range(-1, length).ToArray();
        long wiener = Cascades.WienerIndex(path);
        Assert.Equal((long)length * ((long)length * length - 1) / 6, wiener);
        Assert.Equal((length + 1) / 3.0, Cascades.StructuralVirality(wiener, length)!.Value, 6);
        Assert.Null(Cascades.StructuralVirality(0, 1));
        Assert.Throws<ArgumentException>(() => Cascades.WienerIndex([-1, 2, 1])); // 1 and 2 are each other's parent
    }

    [Fact]
    public void TheSummarySerialisesToReadableJson()
    {
        var summary = SpreadMetrics.Compute(Log("f", "TOOOR", "TTORR", "TTTRR"), [Fact("f", rumour: true)], Path(5),
            [new SpreadGrouping("channel", ["rag", "rag", "rome", "rome", "rome"])]);
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
        var json = JsonSerializer.Serialize(summary, options);
        Assert.Contains("\"adoption\":{\"true\":[0.2,0.4,0.6],\"rumour\":[0.2,0.4,0.4],\"old\":[0.6,0.2,0],\"other\":[0,0,0]}", json);
        Assert.Contains("\"stepTo50\":2,\"stepTo90\":null", json);
        Assert.Contains("\"depths\":{\"2\":1}", json);
        Assert.Contains("\"points\":[{\"exposures\":0,\"trials\":5,\"adoptions\":0,\"probability\":0}", json);
        var back = JsonSerializer.Deserialize<SpreadSummary>(json, options)!;
        Assert.Equal(json, JsonSerializer.Serialize(back, options));
    }
}
