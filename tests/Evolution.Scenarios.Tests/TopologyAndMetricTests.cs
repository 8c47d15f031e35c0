using Evolution.Agents.Protocols;
using Evolution.Agents.Recording;

namespace Evolution.Scenarios.Tests;

public class TopologyTests
{
    static readonly string[] Five = ["a", "b", "c", "d", "e"];

    [Fact]
    public void RingStarAndAllToAllConnectWhoTheySay()
    {
        var ring = Debate.Neighbours(Five, Topology.Ring, 0.5, 1);
        Assert.All(Five, a => Assert.Equal(2, ring[a].Count));
        Assert.Equal(["b", "e"], ring["a"]);
        var star = Debate.Neighbours(Five, Topology.Star, 0.5, 1);
        Assert.Equal(4, star["a"].Count);
        Assert.All(Five.Skip(1), a => Assert.Equal(["a"], star[a]));
        var all = Debate.Neighbours(Five, Topology.AllToAll, 0.5, 1);
        Assert.All(Five, a => Assert.Equal(4, all[a].Count));
    }

    [Fact]
    public void ARandomGraphIsSymmetricAndSeeded()
    {
        var nine = Enumerable.Range(0, 9).Select(i => $"x{i}").ToArray();
        var g = Debate.Neighbours(nine, Topology.Random, 0.4, 17);
        Assert.Equal(g.ToDictionary(kv => kv.Key, kv => string.Join(",", kv.Value)), Debate.Neighbours(nine, Topology.Random, 0.4, 17).ToDictionary(kv => kv.Key, kv => string.Join(",", kv.Value)));
        foreach (var (a, ns) in g) Assert.All(ns, b => Assert.Contains(a, g[b]));
        Assert.NotEqual(g.Sum(kv => kv.Value.Count), Debate.Neighbours(nine, Topology.AllToAll, 0.4, 17).Sum(kv => kv.Value.Count));
    }

    static void AssertSimpleUndirected(IReadOnlyList<int>[] graph)
    {
        for (int i = 0; i < graph.Length; i++)
        {
            Assert.DoesNotContain(i, graph[i]);
            Assert.Equal(graph[i].Count, graph[i].Distinct().Count());
            Assert.All(graph[i], j => Assert.Contains(i, graph[j]));
        }
    }

    [Fact]
    public void ASmallWorldIsALatticeWithoutRewiringAndKeepsItsEdgesWithIt()
    {
        var lattice = SocialNetwork.WattsStrogatz(20, 4, 0, new Random(3));
        Assert.Equal([1, 2, 18, 19], lattice[0]);
        var statistics = SocialNetwork.Statistics(lattice);
        Assert.Equal((40, 4, 4), (statistics.Edges, statistics.MinDegree, statistics.MaxDegree));
        Assert.Equal(0.5, statistics.MeanClustering, 6); // a k=4 ring lattice: 3(k−2)/(4(k−1))

        var rewired = SocialNetwork.WattsStrogatz(200, 6, 0.2, new Random(3));
        AssertSimpleUndirected(rewired);
        var s = SocialNetwork.Statistics(rewired);
        Assert.Equal(600, s.Edges); // rewiring moves edges, never adds or drops them
        Assert.InRange(s.MeanClustering, 0.2, 0.55); // lower than the lattice's 0.6, far above a random graph's ~0.03
        Assert.Equal(rewired.Select(n => string.Join(",", n)), SocialNetwork.WattsStrogatz(200, 6, 0.2, new Random(3)).Select(n => string.Join(",", n)));
    }

    [Fact]
    public void AScaleFreeGraphGrowsHubs()
    {
        var graph = SocialNetwork.BarabasiAlbert(500, 2, new Random(5));
        AssertSimpleUndirected(graph);
        var s = SocialNetwork.Statistics(graph);
        Assert.Equal(3 + 2 * (500 - 3), s.Edges); // a triangle, then two edges per new node
        Assert.Equal(2, s.MinDegree);
        Assert.True(s.MaxDegree > 8 * s.MeanDegree, $"largest degree {s.MaxDegree}, mean {s.MeanDegree:F1}: preferential attachment makes hubs");
        var ring = SocialNetwork.WattsStrogatz(500, 4, 0.1, new Random(5));
        Assert.True(SocialNetwork.Statistics(ring).MaxDegree < 10);
    }

    [Fact]
    public void DebateStepsUseTheirSocialNetwork()
    {
        var nine = Enumerable.Range(0, 9).Select(i => $"x{i}").ToArray();
        var step = new DebateStep(0, new FactSelection("all"), 1, Topology.SmallWorld, [], [], Degree: 2, Rewire: 0);
        var ring = Debate.Neighbours(nine, step, seed: 1);
        Assert.Equal(["x1", "x8"], ring["x0"]);
        var hubs = Debate.Neighbours(nine, step with { Topology = Topology.ScaleFree, Attach = 1 }, seed: 1);
        Assert.Equal(8, hubs.Sum(kv => kv.Value.Count) / 2); // a tree
    }

    [Fact]
    public void MajorityBreaksTiesByFirstOccurrence()
    {
        Assert.Equal(" B", Debate.Majority([" A", " B", " B"]));
        Assert.Equal(" A", Debate.Majority([" A", " B"]));
    }
}
