namespace Evolution.Mechanisms.Circuits;

/// <summary>
/// A circuit (Yao et al. 2024; Hanna et al. 2024): the edges of a <see cref="ComputationGraph"/>
/// with the largest |score|, kept while every other edge is ablated. <see cref="Scores"/> holds the
/// score of every edge (in graph order), so two circuits of the same graph shape can be compared
/// (<see cref="CircuitDiff"/>) and the circuit re-cut at another size.
/// </summary>
public sealed record Circuit(ComputationGraph Graph, float[] Scores, bool[] Included)
{
    /// <summary>
    /// The share of edges a circuit keeps unless told otherwise (<c>trace --edge-fraction</c>, a scenario's convergence
    /// step, the circuit benchmark): 10%, where on the default agent the greedy circuit recovers 0.83 of the logit
    /// difference (curve 1/2/5/10/20%: 0.10 / 0.21 / 0.56 / 0.83 / 0.94, README), small enough to read, faithful enough
    /// to stand for the model; Yao et al. 2024 and Hanna et al. 2024 report circuits of a few percent of the edges.
    /// </summary>
    public const double DefaultEdgeFraction = 0.1;

    public int EdgeCount => Included.Count(x => x);
    public double EdgeFraction => (double)EdgeCount / Included.Length;
    public IEnumerable<Edge> Edges => Graph.Edges.Where(e => Included[e.Index]);

    /// <summary>The top ⌈fraction·|E|⌉ edges by |score| (ties by graph order).</summary>
    public static Circuit TopFraction(ComputationGraph graph, float[] scores, double fraction)
    {
        if (fraction is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "edge fraction must be in (0, 1]");
        int keep = Math.Max(1, (int)Math.Ceiling(fraction * scores.Length));
        var included = new bool[scores.Length];
        foreach (int i in Enumerable.Range(0, scores.Length).OrderByDescending(i => Math.Abs(scores[i])).ThenBy(i => i).Take(keep))
            included[i] = true;
        return new Circuit(graph, scores, included);
    }

    /// <summary>
    /// The same number of edges as <see cref="TopFraction"/>, chosen greedily from the logits
    /// backwards (Hanna et al. 2024, "greedy" selection): start with the logits and repeatedly add
    /// the highest-|score| edge into a node already in the circuit. Every edge then has a path to
    /// the logits, so no edge is spent on a node whose output is ablated anyway.
    /// </summary>
    public static Circuit Greedy(ComputationGraph graph, float[] scores, double fraction)
    {
        if (fraction is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(fraction), fraction, "edge fraction must be in (0, 1]");
        int keep = Math.Max(1, (int)Math.Ceiling(fraction * scores.Length));
        var included = new bool[scores.Length];
        var reached = new HashSet<string>();
        // Candidates: edges into reached nodes, best |score| first (a max-heap on −|score|, ties by graph order).
        var candidates = new PriorityQueue<Edge, (float, int)>();
        var byNode = graph.Edges.ToLookup(e => graph.DownstreamNode(e.Downstream));
        void Reach(string node)
        {
            if (!reached.Add(node)) return;
            foreach (var e in byNode[node]) candidates.Enqueue(e, (-Math.Abs(scores[e.Index]), e.Index));
        }
        Reach("logits");
        for (int added = 0; added < keep && candidates.TryDequeue(out var edge, out _); added++)
        {
            included[edge.Index] = true;
            Reach(graph.UpstreamName(edge.Upstream));
        }
        return new Circuit(graph, scores, included);
    }

    /// <summary>Every edge with |score| ≥ <paramref name="threshold"/>.</summary>
    public static Circuit Threshold(ComputationGraph graph, float[] scores, double threshold) =>
        new(graph, scores, scores.Select(s => Math.Abs(s) >= threshold).ToArray());

    /// <summary>Nodes touched by a circuit edge (upstream nodes by name, downstream inputs by their node).</summary>
    public IReadOnlySet<string> Nodes() =>
        Edges.SelectMany(e => new[] { Graph.UpstreamName(e.Upstream), Graph.DownstreamNode(e.Downstream) }).ToHashSet();

    /// <summary>Cuts a circuit of <paramref name="fraction"/> of the edges by <paramref name="selection"/> ("topn" or "greedy").</summary>
    public static Circuit Select(ComputationGraph graph, float[] scores, double fraction, string selection) => selection switch
    {
        "topn" => TopFraction(graph, scores, fraction),
        "greedy" => Greedy(graph, scores, fraction),
        _ => throw new ArgumentException($"unknown selection '{selection}' (topn or greedy)"),
    };

    /// <summary>Mean of per-example scores: one circuit for a set of facts.</summary>
    public static float[] MeanScores(IReadOnlyList<float[]> perExample) =>
        Enumerable.Range(0, perExample[0].Length).Select(i => perExample.Average(s => s[i])).ToArray();
}
