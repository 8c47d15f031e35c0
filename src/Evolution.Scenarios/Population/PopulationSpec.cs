using System.Globalization;
using Evolution.Agents.Population;
using Evolution.Agents.Protocols;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;
using Evolution.Core.Yaml;

namespace Evolution.Scenarios.Population;

/// <summary>One base of a population: a profile trained with a seed (cached as any agent), and the share of agents on it.</summary>
public sealed record PopulationBaseSpec(string Name, string ProfilePath, AgentProfile Profile, string ProfileText, double Share);

/// <summary>
/// A trait drawn per agent: a constant, uniform on [A, B], or normal with mean A and standard deviation B (clipped to
/// [0, 1], the range of a probability threshold).
/// </summary>
public sealed record TraitDistribution(string Kind, double A, double B = 0)
{
    public double Draw(Random random) => Kind switch
    {
        "constant" => A,
        "uniform" => A + (B - A) * random.NextDouble(),
        _ => Math.Clamp(A + B * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()), 0, 1),
    };
}

/// <summary>
/// A scenario's population block: how many agents, on which bases, linked how, with which traits and update channels.
/// <code>
/// population:
///   agents: 1000
///   bases:                                  # shares are normalised; agents are dealt to bases by share
///     - {profile: ../agents/small.yaml, seed: 1, share: 1}
///     - {profile: ../agents/small.yaml, seed: 2, share: 1}
///   network: {topology: small-world, degree: 6, rewire: 0.1}   # scale-free {attach}, random {edge_probability}, edge-list {edges: file.csv of 'i,j' agent indices}
///   keep_own_above: {uniform: [0.4, 0.95]}  # a number, {uniform: [lo, hi]} or {normal: [mean, sd]}
///   update: {rag: 0.5, rome: 0.3, none: 0.2}  # shares of update channels: none, rag, rome, memit, ft-l
/// </code>
/// Agents are numbered 0..n−1; everything drawn per agent is seeded by the scenario's seed.
/// </summary>
public sealed record PopulationSpec(int Agents, IReadOnlyList<PopulationBaseSpec> Bases, Topology Topology, int Degree, double Rewire, int Attach,
    double EdgeProbability, IReadOnlyList<(string A, string B)>? Edges, TraitDistribution KeepOwnAbove, IReadOnlyList<(UpdateChannel Channel, double Share)> Update)
{
    public const int MaxAgents = 100_000;

    /// <summary>Each agent's base, threshold and channel: bases and channels dealt by share (largest remainders), then shuffled, seeded.</summary>
    public IReadOnlyList<PopulationMember> Members(int seed)
    {
        var random = new Random(Seeds.Mix(seed, "population-members"));
        var bases = Deal(Bases.Select(b => b.Share).ToList(), random);
        var channels = Deal(Update.Select(u => u.Share).ToList(), random);
        return Enumerable.Range(0, Agents).Select(i => new PopulationMember(bases[i], KeepOwnAbove.Draw(random), Update[channels[i]].Channel)).ToList();
    }

    /// <summary>The social network, seeded.</summary>
    public IReadOnlyList<int>[] Network(int seed)
    {
        var random = new Random(Seeds.Mix(seed, "population-network"));
        return Topology switch
        {
            Topology.SmallWorld => SocialNetwork.WattsStrogatz(Agents, Degree, Rewire, random),
            Topology.ScaleFree => SocialNetwork.BarabasiAlbert(Agents, Attach, random),
            Topology.EdgeList => SocialNetwork.FromEdges(Names(Agents), Edges!),
            _ => ErdosRenyi(random),
        };
    }

    /// <summary>Agents' names in an edge list: their indices 0..n−1.</summary>
    static List<string> Names(int agents) => Enumerable.Range(0, agents).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToList();

    /// <summary>Erdős–Rényi G(n, p), each row's partners drawn by geometric skips (Batagelj &amp; Brandes 2005), so 10,000 agents do not cost 50 million draws.</summary>
    IReadOnlyList<int>[] ErdosRenyi(Random random)
    {
        var links = Enumerable.Range(0, Agents).Select(_ => new List<int>()).ToArray();
        for (int i = 0; i < Agents && EdgeProbability > 0; i++)
            for (long j = i; ;)
            {
                j += EdgeProbability >= 1 ? 1 : 1 + (long)Math.Floor(Math.Log(1 - random.NextDouble()) / Math.Log(1 - EdgeProbability));
                if (j >= Agents) break;
                links[i].Add((int)j);
                links[j].Add(i);
            }
        return links.Select(l => (IReadOnlyList<int>)l.Order().ToList()).ToArray();
    }

    /// <summary>Indices 0..shares.Count−1 dealt to the agents by share (largest remainders for the rounding), in a seeded order.</summary>
    int[] Deal(IReadOnlyList<double> shares, Random random)
    {
        double total = shares.Sum();
        var exact = shares.Select(s => s / total * Agents).ToList();
        var counts = exact.Select(e => (int)Math.Floor(e)).ToArray();
        foreach (int i in Enumerable.Range(0, shares.Count).OrderByDescending(i => exact[i] - counts[i]).ThenBy(i => i).Take(Agents - counts.Sum())) counts[i]++;
        var dealt = counts.SelectMany((c, i) => Enumerable.Repeat(i, c)).ToArray();
        random.Shuffle(dealt);
        return dealt;
    }

    /// <summary>Reads the block; relative paths resolve with <paramref name="resolve"/>. Errors name the file, line and field.</summary>
    public static PopulationSpec Parse(YamlMap map, Func<string, string> resolve, World world)
    {
        int agents = map.Int("agents");
        if (agents is < 2 or > MaxAgents) throw map.Invalid("agents", $"must be between 2 and {MaxAgents:N0}, got {agents}");

        var bases = new List<PopulationBaseSpec>();
        var baseMaps = map.MapList("bases");
        if (baseMaps.Count == 0) throw map.Invalid("bases", "a population needs at least one base: {profile: <file>, seed: N}");
        foreach (var entry in baseMaps)
        {
            var profilePath = resolve(entry.String("profile"));
            if (!File.Exists(profilePath)) throw entry.Invalid("profile", $"unknown base: file not found: {profilePath}");
            var profile = AgentProfile.Load(profilePath);
            int seed = entry.Int("seed", profile.Training.Seed);
            double share = entry.Double("share", 1);
            if (share <= 0 || double.IsNaN(share)) throw entry.Invalid("share", $"must be above 0, got {share}");
            entry.RejectUnknownKeys();
            profile.Data.Validate(world, profilePath);
            profile = profile with { Training = profile.Training with { Seed = seed } };
            var name = $"{Path.GetFileNameWithoutExtension(profilePath)}-s{seed}";
            if (bases.Any(b => b.Name == name)) throw entry.Invalid("seed", $"base {name} is listed twice");
            var text = $"# {Path.GetFileName(profilePath)} with training.seed: {seed}, a population base\n" + File.ReadAllText(profilePath);
            bases.Add(new PopulationBaseSpec(name, profilePath, profile, text, share));
        }

        var network = map.Map("network");
        var topologyName = network.String("topology", "small-world");
        var topology = topologyName switch
        {
            "small-world" => Topology.SmallWorld, "scale-free" => Topology.ScaleFree, "random" => Topology.Random, "edge-list" => Topology.EdgeList,
            _ => throw network.Invalid("topology", $"unknown topology '{topologyName}'; a population uses small-world, scale-free, random or edge-list"),
        };
        int degree = network.Int("degree", 6);
        if (degree < 2 || degree % 2 != 0 || degree >= agents) throw network.Invalid("degree", $"small-world lattice degree must be even, at least 2 and below the number of agents, got {degree}");
        double rewire = network.Double("rewire", 0.1);
        if (rewire is < 0 or > 1) throw network.Invalid("rewire", $"must be between 0 and 1, got {rewire}");
        int attach = network.Int("attach", 3);
        if (attach < 1 || attach >= agents) throw network.Invalid("attach", $"scale-free edges per new agent must be at least 1 and below the number of agents, got {attach}");
        double p = network.Double("edge_probability", 6.0 / agents);
        if (p is < 0 or > 1) throw network.Invalid("edge_probability", $"must be between 0 and 1, got {p}");
        IReadOnlyList<(string, string)>? edges = null;
        if (topology == Topology.EdgeList)
        {
            if (!network.Has("edges")) throw network.Invalid("edges", "topology edge-list needs 'edges: <file.csv>' (one 'i,j' pair of agent indices 0..n-1 per line)");
            edges = SocialNetwork.ReadEdgeList(resolve(network.String("edges")), Names(agents).ToHashSet());
        }
        else if (network.Has("edges")) throw network.Invalid("edges", "applies to topology edge-list only");
        network.RejectUnknownKeys();

        var keep = ParseDistribution(map, "keep_own_above", 1.0);
        var update = new List<(UpdateChannel, double)>();
        var updateMap = map.Map("update");
        foreach (var key in updateMap.Keys.ToList())
        {
            if (!UpdatePolicy.Names.TryGetValue(key, out var channel) || !AgentPopulation.Channels.Contains(channel))
                throw updateMap.Invalid(key, $"unknown update channel '{key}' for a population; use {AgentPopulation.ChannelNames}");
            double share = updateMap.Double(key);
            if (share < 0 || double.IsNaN(share)) throw updateMap.Invalid(key, $"a share must not be negative, got {share}");
            if (share > 0) update.Add((channel, share));
        }
        if (update.Count == 0) update.Add((UpdateChannel.Rag, 1));
        map.RejectUnknownKeys();
        return new PopulationSpec(agents, bases, topology, degree, rewire, attach, p, edges, keep, update);
    }

    static TraitDistribution ParseDistribution(YamlMap map, string key, double fallback)
    {
        if (!map.Has(key)) return new TraitDistribution("constant", fallback);
        if (!map.HasMap(key))
        {
            double value = map.Double(key);
            return value is >= 0 and <= 1 ? new TraitDistribution("constant", value) : throw map.Invalid(key, $"must be between 0 and 1, got {value}");
        }
        var d = map.Map(key);
        var kinds = d.Keys.ToList();
        if (kinds.Count != 1 || kinds[0] is not ("uniform" or "normal"))
            throw map.Invalid(key, $"expected a number, {{uniform: [lo, hi]}} or {{normal: [mean, sd]}}, got {string.Join(", ", kinds)}");
        var values = d.StringList(kinds[0]).Select(v => double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) ? x : double.NaN).ToList();
        if (values.Count != 2 || values.Any(double.IsNaN)) throw d.Invalid(kinds[0], "expected two numbers, e.g. [0.4, 0.95]");
        if (kinds[0] == "uniform" && !(0 <= values[0] && values[0] <= values[1] && values[1] <= 1)) throw d.Invalid("uniform", $"needs 0 <= lo <= hi <= 1, got [{values[0]}, {values[1]}]");
        if (kinds[0] == "normal" && (values[0] is < 0 or > 1 || values[1] < 0)) throw d.Invalid("normal", $"needs a mean in [0, 1] and a standard deviation >= 0, got [{values[0]}, {values[1]}]");
        d.RejectUnknownKeys();
        return new TraitDistribution(kinds[0], values[0], values[1]);
    }
}
