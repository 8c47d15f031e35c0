namespace Evolution.Mechanisms.Circuits;

/// <summary>How two circuits of one graph shape differ (e.g. one fact in two checkpoints or two agents).</summary>
/// <param name="EdgeJaccard">|A ∩ B| / |A ∪ B| over circuit edges.</param>
/// <param name="WeightedOverlap">Σ_e min(|s_a(e)|, |s_b(e)|) / Σ_e max(…) over all edges, each circuit's
/// |scores| first normalised to sum 1 (score scales differ between models).</param>
public sealed record CircuitComparison(double EdgeJaccard, double WeightedOverlap, int SharedEdges, int EdgesOnlyInA, int EdgesOnlyInB,
    IReadOnlyList<string> NodesGained, IReadOnlyList<string> NodesLost);

/// <summary>
/// Circuit diff ("Comparisons" of the tracer: how a fact's circuit changes between checkpoints, or
/// between agents that know the same fact). Gained/lost is from <c>a</c> to <c>b</c>.
/// </summary>
public static class CircuitDiff
{
    public static CircuitComparison Compare(Circuit a, Circuit b)
    {
        if (a.Graph.Layers != b.Graph.Layers || a.Graph.Heads != b.Graph.Heads)
            throw new ArgumentException($"circuits of different graphs: {a.Graph.Layers}×{a.Graph.Heads} vs {b.Graph.Layers}×{b.Graph.Heads} (layers × heads)");
        int shared = 0, onlyA = 0, onlyB = 0;
        for (int i = 0; i < a.Included.Length; i++)
        {
            if (a.Included[i] && b.Included[i]) shared++;
            else if (a.Included[i]) onlyA++;
            else if (b.Included[i]) onlyB++;
        }
        double totalA = a.Scores.Sum(s => Math.Abs(s)), totalB = b.Scores.Sum(s => Math.Abs(s));
        double min = 0, max = 0;
        for (int i = 0; i < a.Scores.Length; i++)
        {
            double x = totalA > 0 ? Math.Abs(a.Scores[i]) / totalA : 0, y = totalB > 0 ? Math.Abs(b.Scores[i]) / totalB : 0;
            min += Math.Min(x, y);
            max += Math.Max(x, y);
        }
        var nodesA = a.Nodes();
        var nodesB = b.Nodes();
        int union = shared + onlyA + onlyB;
        return new CircuitComparison(union == 0 ? 1 : (double)shared / union, max == 0 ? 1 : min / max, shared, onlyA, onlyB,
            nodesB.Except(nodesA).Order().ToList(), nodesA.Except(nodesB).Order().ToList());
    }
}
