namespace Evolution.Scenarios.Population;

/// <summary>One agent in a diffusion tree: the step it first stated the object and the agent it is attributed to (−1 for a root).</summary>
public sealed record CascadeNode(int Agent, int Step, int Parent);

/// <summary>
/// One diffusion tree. <see cref="Nodes"/> in adoption order, the root first (a parent always adopted at an earlier step, so
/// it comes before its children). <see cref="Depth"/>: the largest distance from the root; <see cref="MaxBreadth"/>: the
/// most nodes at one depth; <see cref="WienerIndex"/>: the sum of distances over all unordered pairs of nodes.
/// </summary>
public sealed record CascadeTree(int Root, int Step, bool Spontaneous, IReadOnlyList<CascadeNode> Nodes, int Depth, int MaxBreadth, long WienerIndex)
{
    public int Size => Nodes.Count;

    /// <summary>Goel et al. (2016): the mean distance between two distinct nodes; null for a single node, for which the paper leaves ν undefined.</summary>
    public double? StructuralVirality => Cascades.StructuralVirality(WienerIndex, Size);
}

/// <summary>The trees of one object's spread over one fact, and how many agents dropped it and stated it again (not attributed again).</summary>
public sealed record CascadeForest(IReadOnlyList<CascadeTree> Trees, int Readoptions);

/// <summary>
/// Diffusion trees of one object through a population, after Goel, Anderson, Hofman &amp; Watts (2016), "The structural
/// virality of online diffusion", Management Science 62(1): whether news spread by broadcast (a few hubs telling many,
/// shallow wide trees, low virality) or virally (long chains of person-to-person adoption, high virality) is read off the
/// shape of the trees, not off the adoption curve, which can look the same for both.
/// </summary>
public static class Cascades
{
    /// <summary>
    /// The forest of one object: <paramref name="stated"/>[t][a] says whether agent a stated it at step t. The agents stating
    /// it at step 0 are roots (seeds). An agent that did not state it at step t−1 and states it at step t adopts it; its parent
    /// is the lowest-index agent among <paramref name="heard"/>(t, a) that stated it at step t−1 (lowest index: one
    /// deterministic choice among equally plausible sources; Goel et al. attribute to a single parent too). With no such agent
    /// the adoption did not come from the network (its own prior, a retrieval), so the agent roots a new, spontaneous tree. An
    /// agent is attributed only at its first adoption: dropping the object and stating it again later adds no node, so each
    /// agent is in at most one tree and the forest stays a forest.
    /// </summary>
    public static CascadeForest Build(IReadOnlyList<bool[]> stated, Func<int, int, IReadOnlyList<int>> heard)
    {
        if (stated.Count == 0) return new CascadeForest([], 0);
        int agents = stated[0].Length;
        var treeOf = new int[agents];
        Array.Fill(treeOf, -1);
        var trees = new List<(int Step, bool Spontaneous, List<CascadeNode> Nodes)>();
        void Root(int agent, int step, bool spontaneous)
        {
            treeOf[agent] = trees.Count;
            trees.Add((step, spontaneous, [new CascadeNode(agent, step, -1)]));
        }

        for (int a = 0; a < agents; a++)
            if (stated[0][a]) Root(a, 0, false);
        int readoptions = 0;
        for (int t = 1; t < stated.Count; t++)
        {
            var (before, now) = (stated[t - 1], stated[t]);
            for (int a = 0; a < agents; a++)
            {
                if (!now[a] || before[a]) continue;
                if (treeOf[a] >= 0)
                {
                    readoptions++;
                    continue;
                }
                int parent = -1;
                foreach (var n in heard(t, a))
                    if (before[n] && (parent < 0 || n < parent)) parent = n;
                if (parent < 0)
                {
                    Root(a, t, true);
                    continue;
                }
                // The parent stated it at t−1, so it first stated it at t−1 or earlier and is already in a tree.
                treeOf[a] = treeOf[parent];
                trees[treeOf[a]].Nodes.Add(new CascadeNode(a, t, parent));
            }
        }
        return new CascadeForest(trees.Select(x => Tree(x.Step, x.Spontaneous, x.Nodes)).ToList(), readoptions);
    }

    /// <summary>The forest when every agent hears all its neighbours.</summary>
    public static CascadeForest Build(IReadOnlyList<bool[]> stated, IReadOnlyList<int>[] neighbours) => Build(stated, (_, a) => neighbours[a]);

    static CascadeTree Tree(int step, bool spontaneous, List<CascadeNode> nodes)
    {
        var local = new Dictionary<int, int>(nodes.Count);
        for (int i = 0; i < nodes.Count; i++) local[nodes[i].Agent] = i;
        var parent = nodes.Select(n => n.Parent < 0 ? -1 : local[n.Parent]).ToArray();
        var (depth, breadth) = Shape(parent);
        return new CascadeTree(nodes[0].Agent, step, spontaneous, nodes, depth, breadth, WienerIndex(parent));
    }

    /// <summary>
    /// The sum of distances over all unordered pairs of nodes of the tree given by <paramref name="parent"/> (parent[i] = −1 for
    /// the one root), in O(n): the edge above a node whose subtree has s nodes lies on the path of exactly s·(n − s) pairs.
    /// Nodes may be numbered in any order.
    /// </summary>
    public static long WienerIndex(IReadOnlyList<int> parent)
    {
        int n = parent.Count;
        var order = TopDown(parent);
        var size = new long[n];
        Array.Fill(size, 1L);
        long wiener = 0;
        for (int i = n - 1; i > 0; i--)
        {
            int v = order[i];
            wiener += size[v] * (n - size[v]);
            size[parent[v]] += size[v];
        }
        return wiener;
    }

    /// <summary>ν(T) of Goel et al. (2016): the Wiener index over the n(n−1)/2 pairs; null below two nodes, where the paper does not define it.</summary>
    public static double? StructuralVirality(long wienerIndex, int size) => size < 2 ? null : wienerIndex / (size * (size - 1.0) / 2);

    /// <summary>The depth (largest distance from the root) and the largest number of nodes at one depth.</summary>
    public static (int Depth, int MaxBreadth) Shape(IReadOnlyList<int> parent)
    {
        var order = TopDown(parent);
        var depth = new int[parent.Count];
        var atDepth = new List<int>();
        foreach (var v in order)
        {
            depth[v] = parent[v] < 0 ? 0 : depth[parent[v]] + 1;
            if (atDepth.Count <= depth[v]) atDepth.Add(0);
            atDepth[depth[v]]++;
        }
        return (atDepth.Count - 1, atDepth.Count == 0 ? 0 : atDepth.Max());
    }

    /// <summary>The nodes breadth first from the root, so a parent always comes before its children; a parent array that is not one tree is rejected.</summary>
    static int[] TopDown(IReadOnlyList<int> parent)
    {
        int n = parent.Count;
        if (n == 0) throw new ArgumentException("a tree has at least one node", nameof(parent));
        // Children as one array sliced per node (counting sort by parent), to stay O(n) without a list per node.
        var start = new int[n + 1];
        int root = -1;
        for (int v = 0; v < n; v++)
        {
            int p = parent[v];
            if (p == -1)
            {
                if (root >= 0) throw new ArgumentException($"a tree has one root, nodes {root} and {v} both have no parent", nameof(parent));
                root = v;
            }
            else if (p < 0 || p >= n) throw new ArgumentException($"node {v} has parent {p}, not a node of the tree", nameof(parent));
            else start[p + 1]++;
        }
        if (root < 0) throw new ArgumentException("the parent array has no root (a cycle)", nameof(parent));
        for (int v = 0; v < n; v++) start[v + 1] += start[v];
        var children = new int[n - 1];
        var next = start[..n];
        for (int v = 0; v < n; v++)
            if (parent[v] >= 0) children[next[parent[v]]++] = v;

        var order = new int[n];
        int count = 0;
        order[count++] = root;
        for (int head = 0; head < count; head++)
        {
            int v = order[head];
            for (int c = start[v]; c < start[v + 1]; c++) order[count++] = children[c];
        }
        if (count < n) throw new ArgumentException($"{n - count} of {n} nodes do not reach the root (a cycle)", nameof(parent));
        return order;
    }
}
