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

    [Fact]
    public void MajorityBreaksTiesByFirstOccurrence()
    {
        Assert.Equal(" B", Debate.Majority([" A", " B", " B"]));
        Assert.Equal(" A", Debate.Majority([" A", " B"]));
    }
}
