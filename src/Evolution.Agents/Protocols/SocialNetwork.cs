namespace Evolution.Agents.Protocols;

/// <summary>Degree statistics of a social graph (reported with the debate that uses it).</summary>
public sealed record DegreeStatistics(int Nodes, int Edges, double MeanDegree, int MinDegree, int MaxDegree, double MeanClustering)
{
    public override string ToString() =>
        $"{Nodes} agents, {Edges} edges, degree mean {MeanDegree:0.##} (min {MinDegree}, max {MaxDegree}), clustering {MeanClustering:0.##}";
}

/// <summary>
/// Seeded social graphs over agents 0..n−1: undirected, without self-loops or repeated edges; each node's neighbours in
/// ascending order. Populations studies use these families because herd effects depend on them: short paths with high
/// clustering (small world), hubs (scale free), or neither (Erdős–Rényi, the debate's random topology).
/// </summary>
public static class SocialNetwork
{
    /// <summary>
    /// Watts &amp; Strogatz (1998): a ring lattice in which every node is linked to its <paramref name="degree"/>/2 nearest
    /// neighbours on each side, then every lattice edge (i, i+j) is rewired with probability <paramref name="rewire"/> to
    /// (i, k) for a uniformly chosen k that is neither i nor already linked to i. Rewiring keeps the number of edges.
    /// </summary>
    public static IReadOnlyList<int>[] WattsStrogatz(int nodes, int degree, double rewire, Random random)
    {
        if (degree % 2 != 0 || degree < 2) throw new ArgumentException($"small-world degree must be even and at least 2, got {degree}");
        if (degree >= nodes) return Complete(nodes); // the lattice already links everyone
        var links = Empty(nodes);
        for (int j = 1; j <= degree / 2; j++)
            for (int i = 0; i < nodes; i++) Link(links, i, (i + j) % nodes);
        for (int j = 1; j <= degree / 2; j++)
            for (int i = 0; i < nodes; i++)
            {
                int old = (i + j) % nodes;
                if (random.NextDouble() >= rewire || !links[i].Contains(old) || links[i].Count >= nodes - 1) continue;
                int target;
                do target = random.Next(nodes); while (target == i || links[i].Contains(target));
                links[i].Remove(old);
                links[old].Remove(i);
                Link(links, i, target);
            }
        return Sorted(links);
    }

    /// <summary>
    /// Barabási &amp; Albert (1999): start from a complete graph of <paramref name="attach"/> + 1 nodes; each further node links to
    /// <paramref name="attach"/> distinct earlier nodes chosen with probability proportional to their degree (preferential
    /// attachment, drawn from the list of edge endpoints), which gives a few hubs and a power-law tail.
    /// </summary>
    public static IReadOnlyList<int>[] BarabasiAlbert(int nodes, int attach, Random random)
    {
        if (attach < 1) throw new ArgumentException($"scale-free attachment must be at least 1, got {attach}");
        if (attach + 1 >= nodes) return Complete(nodes);
        var links = Empty(nodes);
        var endpoints = new List<int>();
        for (int i = 0; i <= attach; i++)
            for (int j = i + 1; j <= attach; j++)
            {
                Link(links, i, j);
                endpoints.Add(i);
                endpoints.Add(j);
            }
        for (int node = attach + 1; node < nodes; node++)
        {
            var chosen = new HashSet<int>();
            while (chosen.Count < attach) chosen.Add(endpoints[random.Next(endpoints.Count)]);
            foreach (var target in chosen.Order())
            {
                Link(links, node, target);
                endpoints.Add(node);
                endpoints.Add(target);
            }
        }
        return Sorted(links);
    }

    /// <summary>The graph of an edge list over <paramref name="agents"/>; edges naming an agent not among them are left out (a smaller group).</summary>
    public static IReadOnlyList<int>[] FromEdges(IReadOnlyList<string> agents, IReadOnlyList<(string A, string B)> edges)
    {
        var index = agents.Select((a, i) => (a, i)).ToDictionary(x => x.a, x => x.i);
        var links = Empty(agents.Count);
        foreach (var (a, b) in edges)
            if (index.TryGetValue(a, out var i) && index.TryGetValue(b, out var j)) Link(links, i, j);
        return Sorted(links);
    }

    /// <summary>
    /// Reads an edge list: one "agent,agent" pair per line (undirected), blank lines and lines starting with '#' skipped, an
    /// optional "source,target" header. A line that is not a pair, or names an agent outside <paramref name="agents"/>, is an
    /// <see cref="Core.InputException"/> naming the file and line.
    /// </summary>
    public static IReadOnlyList<(string A, string B)> ReadEdgeList(string path, IReadOnlyCollection<string> agents)
    {
        if (!File.Exists(path)) throw new Core.InputException(path, null, "edge list file not found");
        var edges = new List<(string, string)>();
        var lines = File.ReadAllLines(path);
        for (int n = 0; n < lines.Length; n++)
        {
            var line = lines[n].Trim();
            if (line.Length == 0 || line.StartsWith('#') || (n == 0 && line.Equals("source,target", StringComparison.OrdinalIgnoreCase))) continue;
            var parts = line.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2) throw new Core.InputException(path, "edge", $"expected 'agent,agent', got '{line}'", n + 1);
            foreach (var name in parts)
                if (!agents.Contains(name)) throw new Core.InputException(path, "edge", $"unknown agent '{name}' (agents: {Listed(agents)})", n + 1);
            if (parts[0] == parts[1]) throw new Core.InputException(path, "edge", $"an agent cannot be its own neighbour ('{line}')", n + 1);
            edges.Add((parts[0], parts[1]));
        }
        return edges;
    }

    /// <summary>The agents' names for an error message: all of a small group, the first and last few of a population.</summary>
    static string Listed(IReadOnlyCollection<string> agents) => agents.Count <= 12
        ? string.Join(", ", agents)
        : $"{string.Join(", ", agents.Take(5))}, …, {string.Join(", ", agents.Skip(agents.Count - 5))} ({agents.Count:N0} in all)";

    public static DegreeStatistics Statistics(IReadOnlyList<IReadOnlyList<int>> graph)
    {
        int n = graph.Count;
        var degrees = graph.Select(g => g.Count).ToList();
        // Local clustering (Watts & Strogatz): the share of a node's neighbour pairs that are linked themselves.
        double Clustering(int i)
        {
            var nb = graph[i];
            if (nb.Count < 2) return 0;
            var set = nb.ToHashSet();
            int closed = nb.Sum(a => graph[a].Count(b => b > a && set.Contains(b)));
            return closed / (nb.Count * (nb.Count - 1) / 2.0);
        }
        return new DegreeStatistics(n, degrees.Sum() / 2, n == 0 ? 0 : degrees.Average(), n == 0 ? 0 : degrees.Min(), n == 0 ? 0 : degrees.Max(),
            n == 0 ? 0 : Enumerable.Range(0, n).Average(Clustering));
    }

    static HashSet<int>[] Empty(int nodes) => Enumerable.Range(0, nodes).Select(_ => new HashSet<int>()).ToArray();

    static IReadOnlyList<int>[] Complete(int nodes) =>
        Enumerable.Range(0, nodes).Select(i => (IReadOnlyList<int>)Enumerable.Range(0, nodes).Where(j => j != i).ToList()).ToArray();

    static void Link(HashSet<int>[] links, int a, int b)
    {
        if (a == b) return;
        links[a].Add(b);
        links[b].Add(a);
    }

    static IReadOnlyList<int>[] Sorted(HashSet<int>[] links) => links.Select(l => (IReadOnlyList<int>)l.Order().ToList()).ToArray();
}
