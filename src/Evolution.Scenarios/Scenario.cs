using System.Globalization;
using System.Text.RegularExpressions;
using Evolution.Agents.Protocols;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;
using Evolution.Core.Yaml;
using Evolution.Scenarios.Population;
using YamlDotNet.RepresentationModel;

namespace Evolution.Scenarios;

/// <summary>One agent of a scenario: a profile file plus the scenario's overrides (training seed, traits, update policy).</summary>
/// <param name="ProfileText">The profile as YAML with the overrides written in, stored with the agent's checkpoint, so that
/// <c>edit --model</c> and <c>compare-updates --model</c> on it read the seed its weights and corpus were made with.</param>
public sealed record ScenarioAgent(string Name, string ProfilePath, AgentProfile Profile, string ProfileText);

/// <summary>
/// A scenario file (scenarios/*.yaml): a world, a group of agents and the protocol steps to run.
/// Everything is checked when the file is read, before any training or run starts; an error names
/// the file, the line and the field.
/// <code>
/// name: quickstart
/// seed: 1
/// world: worlds/small.yaml             # relative to the scenario file
/// agents:
///   - name: ada
///     profile: ../agents/small.yaml
///     seed: 2                          # optional: training seed (another individual)
///     keep_own_above: 0.9              # optional: traits.keep_own_above
///     update: rome                     # optional: update.policy
/// steps:
///   - quiz: { facts: 30 }              # facts: N (a seeded sample), all, news, misinformed:&lt;agent&gt;
///   - news: { epoch: 1, learners: [ada], changes: 10 }
///   - debate: { facts: news, rounds: 3, topology: all-to-all, strategies: [debate, reflect], group_sizes: [1, 3] }
///     (topology: all-to-all, ring, star, random [edge_probability], small-world [degree, rewire], scale-free [attach], edge-list [edges: file.csv])
///   - consolidate: {}
///   - conformity: { facts: 20, wrong_peers: [0, 1, 2, 3], right_guidance: true, ally: true, circuit_facts: 40 }
///   - convergence: { probes: 40, circuit_facts: 5, edge_fraction: 0.1 }
///   - epochs:                          # its steps once per epoch from..to (default 1..the world's last epoch);
///       from: 2                        # its news steps take no epoch: each runs at the block's
///       steps: [{news: {}}, {quiz: {facts: all}}, {debate: {facts: news}}, {consolidate: {}}]
/// </code>
/// </summary>
public sealed record Scenario(string Name, int Seed, string Path, string Text, string WorldPath, WorldSpec WorldSpec, IReadOnlyList<ScenarioAgent> Agents,
    IReadOnlyList<ProtocolStep> Steps)
{
    /// <summary>The population block (<see cref="PopulationSpec"/>): a population scenario has no agents list and runs spread steps only.</summary>
    public PopulationSpec? Population { get; init; }

    static readonly Regex AgentName = new("^[A-Za-z][A-Za-z0-9_-]{0,31}$", RegexOptions.CultureInvariant);
    static readonly string[] Protocols = ["quiz", "debate", "conformity", "news", "consolidate", "convergence", "spread"];
    const string EpochsBlock = "epochs";

    public static Scenario Load(string path)
    {
        if (!File.Exists(path)) throw new InputException(path, null, "scenario file not found");
        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses scenario text; relative paths resolve against the directory of <paramref name="path"/>.</summary>
    public static Scenario Parse(string text, string path)
    {
        var yaml = YamlMap.Parse(text, path);
        var baseDirectory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        string Resolve(string relative) => System.IO.Path.GetFullPath(System.IO.Path.Combine(baseDirectory, relative));

        var name = yaml.String("name");
        int seed = yaml.Int("seed", 1);
        var worldPath = Resolve(yaml.String("world"));
        if (!File.Exists(worldPath)) throw yaml.Invalid("world", $"file not found: {worldPath}");
        var worldSpec = WorldSpec.Load(worldPath);
        var world = World.Generate(worldSpec);

        PopulationSpec? population = null;
        if (yaml.Has("population"))
        {
            if (yaml.Has("agents")) throw yaml.Invalid("agents", "a scenario has either agents or a population block, not both");
            population = PopulationSpec.Parse(yaml.Map("population"), Resolve, world);
        }
        var agents = new List<ScenarioAgent>();
        foreach (var entry in yaml.MapList("agents"))
        {
            var agentName = entry.String("name");
            if (!AgentName.IsMatch(agentName)) throw entry.Invalid("name", $"'{agentName}' must start with a letter and hold only letters, digits, '-' or '_' (at most 32)");
            if (agents.Any(a => a.Name == agentName)) throw entry.Invalid("name", $"agent '{agentName}' is defined twice");
            var profilePath = Resolve(entry.String("profile"));
            if (!File.Exists(profilePath)) throw entry.Invalid("profile", $"file not found: {profilePath}");
            var profileText = File.ReadAllText(profilePath);
            var profile = AgentProfile.Load(profilePath);
            var overrides = new List<(string Section, string Key, string Value)>();
            if (entry.OptionalInt("seed") is { } trainingSeed)
            {
                profile = profile with { Training = profile.Training with { Seed = trainingSeed } };
                overrides.Add(("training", "seed", trainingSeed.ToString(CultureInfo.InvariantCulture)));
            }
            if (entry.OptionalDouble("keep_own_above") is { } keep)
            {
                if (keep is < 0 or > 1) throw entry.Invalid("keep_own_above", $"must be between 0 and 1, got {keep}");
                profile = profile with { Traits = profile.Traits with { KeepOwnAbove = keep } };
                overrides.Add(("traits", "keep_own_above", keep.ToString(CultureInfo.InvariantCulture)));
            }
            if (entry.OptionalString("update") is { } policy)
            {
                if (!UpdatePolicy.Names.TryGetValue(policy, out var channel))
                    throw entry.Invalid("update", $"unknown update policy '{policy}'; use one of {string.Join(", ", UpdatePolicy.Names.Keys)}");
                profile = profile with { Update = profile.Update with { Channel = channel } };
                overrides.Add(("update", "policy", policy));
            }
            entry.RejectUnknownKeys();
            profile.Data.Validate(world, profilePath);
            if (overrides.Count > 0)
                profileText = $"# {System.IO.Path.GetFileName(profilePath)} as scenario {System.IO.Path.GetFileName(path)} runs it for agent {agentName}: "
                    + string.Join("; ", overrides.Select(o => $"{o.Section}.{o.Key}: {o.Value}")) + "\n" + WithOverrides(profileText, overrides);
            agents.Add(new ScenarioAgent(agentName, profilePath, profile with { Name = $"{profile.Name}" }, profileText));
        }
        if (agents.Count == 0 && population is null) throw yaml.Invalid("agents", "a scenario needs at least one agent (or a population block)");
        var names = agents.Select(a => a.Name).ToList();

        var interventions = Interventions(yaml, agents);
        var steps = new List<ProtocolStep>();
        var stepMaps = yaml.MapList("steps");
        if (stepMaps.Count == 0) throw yaml.Invalid("steps", "a scenario needs at least one step");
        int maxEpoch = 0;
        bool debated = false;
        foreach (var entry in stepMaps)
        {
            if (!entry.Keys.SequenceEqual([EpochsBlock])) { steps.Add(Step(entry, null)); continue; }
            // An epochs block: its steps once per epoch, each news step at that epoch; expanded here, so the run, its
            // event ids and a resume see plain steps, numbered in the order they run.
            var block = entry.Map(EpochsBlock);
            int last = worldSpec.Epochs - 1;
            if (last < 1) throw block.Invalid("to", $"the world {worldSpec.Name} has no news epochs (epochs: {worldSpec.Epochs})");
            int from = block.Int("from", 1);
            if (from < 1 || from > last) throw block.Invalid("from", $"the world {worldSpec.Name} has news epochs 1..{last}, got {from}");
            int to = block.Int("to", last);
            if (to < from || to > last) throw block.Invalid("to", $"must be between from ({from}) and the world's last epoch ({last}), got {to}");
            var inner = block.MapList("steps");
            if (inner.Count == 0) throw block.Invalid("steps", "an epochs block needs steps to repeat");
            if (!inner.Any(m => m.Keys.SequenceEqual(["news"])))
                throw block.Invalid("steps", "an epochs block needs a news step: it is what moves the world to each epoch");
            block.RejectUnknownKeys();
            for (int epoch = from; epoch <= to; epoch++)
                foreach (var m in inner) steps.Add(Step(m, epoch));
        }

        // One step; blockEpoch: the epoch of the epochs block it repeats in (its news steps' epoch).
        ProtocolStep Step(YamlMap entry, int? blockEpoch)
        {
            int index = steps.Count;
            var keys = entry.Keys.ToList();
            if (keys.Count != 1 || !Protocols.Contains(keys[0]))
                throw new InputException(path, entry.Path, $"each step is one of {string.Join(", ", Protocols)} with its options"
                    + $"{(blockEpoch is null ? $", or an {EpochsBlock} block" : "")}, got {string.Join(", ", keys)}", entry.Line);
            var protocol = keys[0];
            if (population is not null && protocol != "spread")
                throw new InputException(path, entry.Path, $"a population scenario runs spread steps only, got {protocol}", entry.Line);
            if (population is null && protocol == "spread")
                throw new InputException(path, entry.Path, "a spread step needs a population block", entry.Line);
            var o = entry.Map(protocol);
            IReadOnlyList<string>? participants = null;
            if (o.Has("agents"))
            {
                participants = o.StringList("agents");
                foreach (var a in participants) if (!names.Contains(a)) throw o.Invalid("agents", $"unknown agent '{a}' (agents: {string.Join(", ", names)})");
            }
            ProtocolStep step;
            switch (protocol)
            {
                case "quiz":
                    step = new QuizStep(index, Facts(o, names, maxEpoch));
                    break;
                case "debate":
                    var topologyName = o.String("topology", "all-to-all");
                    var topology = topologyName switch
                    {
                        "all-to-all" => Topology.AllToAll, "ring" => Topology.Ring, "star" => Topology.Star, "random" => Topology.Random,
                        "small-world" => Topology.SmallWorld, "scale-free" => Topology.ScaleFree, "edge-list" => Topology.EdgeList,
                        _ => throw o.Invalid("topology", $"unknown topology '{topologyName}'; use all-to-all, ring, star, random, small-world, scale-free or edge-list"),
                    };
                    var strategies = o.StringList("strategies");
                    foreach (var s in strategies) if (s is not ("debate" or "reflect")) throw o.Invalid("strategies", $"unknown strategy '{s}'; use debate or reflect");
                    var sizes = o.IntList("group_sizes");
                    int count = participants?.Count ?? names.Count;
                    foreach (var n in sizes) if (n < 1 || n > count) throw o.Invalid("group_sizes", $"group size {n} is outside 1..{count}");
                    int rounds = o.Int("rounds", 2);
                    if (rounds is < 0 or > 20) throw o.Invalid("rounds", $"must be between 0 and 20, got {rounds}");
                    double p = o.Double("edge_probability", 0.5);
                    if (p is < 0 or > 1) throw o.Invalid("edge_probability", $"must be between 0 and 1, got {p}");
                    int degree = o.Int("degree", 4);
                    if (degree < 2 || degree % 2 != 0) throw o.Invalid("degree", $"small-world lattice degree must be even and at least 2, got {degree}");
                    double rewire = o.Double("rewire", 0.1);
                    if (rewire is < 0 or > 1) throw o.Invalid("rewire", $"must be between 0 and 1, got {rewire}");
                    int attach = o.Int("attach", 2);
                    if (attach < 1) throw o.Invalid("attach", $"scale-free edges per new agent must be at least 1, got {attach}");
                    IReadOnlyList<(string, string)>? edges = null;
                    if (topology == Topology.EdgeList)
                    {
                        if (!o.Has("edges")) throw o.Invalid("edges", "topology edge-list needs 'edges: <file.csv>' (one 'agent,agent' pair per line)");
                        edges = SocialNetwork.ReadEdgeList(Resolve(o.String("edges")), participants ?? names);
                    }
                    else if (o.Has("edges")) throw o.Invalid("edges", "applies to topology edge-list only");
                    step = new DebateStep(index, Facts(o, names, maxEpoch), rounds, topology, strategies, sizes, p, degree, rewire, attach, edges);
                    debated = true;
                    break;
                case "conformity":
                    var wrong = o.IntList("wrong_peers");
                    if (wrong.Count == 0) wrong = [0, 1, 2, 3];
                    foreach (var k in wrong) if (k is < 0 or > 10) throw o.Invalid("wrong_peers", $"number of confederates {k} is outside 0..10");
                    bool ally = o.Bool("ally", false);
                    if (ally && !wrong.Any(k => k >= 3)) throw o.Invalid("ally", "needs a number of confederates of at least 3 in wrong_peers (one ally among them, a wrong majority left)");
                    int conformityCircuit = o.Int("circuit_facts", 0);
                    if (conformityCircuit < 0 || conformityCircuit > world.FactsAt(0).Count)
                        throw o.Invalid("circuit_facts", $"must be between 0 and the world's {world.FactsAt(0).Count} facts, got {conformityCircuit}");
                    step = new ConformityStep(index, Facts(o, names, maxEpoch), wrong, o.Bool("right_guidance", false), ally, conformityCircuit);
                    break;
                case "news":
                    if (blockEpoch is not null && o.Has("epoch")) throw o.Invalid("epoch", $"is set by the {EpochsBlock} block around this step");
                    int epoch = blockEpoch ?? o.Int("epoch");
                    if (epoch < 1 || epoch >= worldSpec.Epochs) throw o.Invalid("epoch", $"the world {worldSpec.Name} has news epochs 1..{worldSpec.Epochs - 1}, got {epoch}");
                    var learners = o.StringList("learners");
                    if (learners.Count == 0) learners = names;
                    foreach (var a in learners) if (!names.Contains(a)) throw o.Invalid("learners", $"unknown agent '{a}' (agents: {string.Join(", ", names)})");
                    int? changes = o.OptionalInt("changes");
                    if (changes is < 1) throw o.Invalid("changes", $"must be at least 1, got {changes}");
                    step = new NewsStep(index, epoch, learners, changes);
                    maxEpoch = epoch;
                    break;
                case "spread":
                    int spreadEpoch = o.Int("epoch", 1);
                    if (spreadEpoch < 1 || spreadEpoch >= worldSpec.Epochs) throw o.Invalid("epoch", $"the world {worldSpec.Name} has news epochs 1..{worldSpec.Epochs - 1}, got {spreadEpoch}");
                    int available = world.Changes.Count(c => c.Epoch == spreadEpoch);
                    int spreadFacts = o.Int("facts", Math.Min(10, available));
                    if (spreadFacts < 1 || spreadFacts > available) throw o.Invalid("facts", $"epoch {spreadEpoch} of {worldSpec.Name} has {available} changes, got {spreadFacts}");
                    double seeded = o.Double("seeded", 0.05), rumour = o.Double("rumour", 0);
                    if (seeded is <= 0 or > 1) throw o.Invalid("seeded", $"must be in (0, 1], got {seeded}");
                    if (rumour < 0 || seeded + rumour > 1) throw o.Invalid("rumour", $"must be at least 0 and at most 1 - seeded ({1 - seeded}), got {rumour}");
                    int spreadSteps = o.Int("steps", 20);
                    if (spreadSteps is < 1 or > 1000) throw o.Invalid("steps", $"must be between 1 and 1000, got {spreadSteps}");
                    int reads = o.Int("reads", 3);
                    if (reads < 1) throw o.Invalid("reads", $"must be at least 1, got {reads}");
                    int spreadCircuitFacts = o.Int("circuit_facts", 0);
                    if (spreadCircuitFacts < 0 || spreadCircuitFacts > spreadFacts) throw o.Invalid("circuit_facts", $"must be between 0 and the spread's facts ({spreadFacts}), got {spreadCircuitFacts}");
                    int circuitAgents = o.Int("circuit_agents", 2);
                    if (circuitAgents < 1) throw o.Invalid("circuit_agents", $"must be at least 1, got {circuitAgents}");
                    step = new SpreadStep(index, spreadEpoch, spreadFacts, seeded, rumour, spreadSteps, reads, spreadCircuitFacts, circuitAgents);
                    break;
                case "consolidate":
                    if (!debated) throw new InputException(path, entry.Path, "consolidate needs a debate step before it", entry.Line);
                    step = new ConsolidateStep(index);
                    break;
                default:
                    int probes = o.Int("probes", 40);
                    if (probes < 3 || probes > worldSpec.EntityCounts.Sum()) throw o.Invalid("probes", $"must be between 3 and the world's {worldSpec.EntityCounts.Sum()} entities, got {probes}");
                    if ((participants?.Count ?? names.Count) < 2) throw o.Invalid("agents", "convergence compares at least two agents");
                    int circuitFacts = o.Int("circuit_facts", 0);
                    if (circuitFacts < 0) throw o.Invalid("circuit_facts", $"must not be negative, got {circuitFacts}");
                    double edgeFraction = o.Double("edge_fraction", Mechanisms.Circuits.Circuit.DefaultEdgeFraction);
                    if (edgeFraction is <= 0 or > 1) throw o.Invalid("edge_fraction", $"must be in (0, 1], got {edgeFraction}");
                    step = new ConvergenceStep(index, probes, o.Int("k", 10), circuitFacts, edgeFraction);
                    break;
            }
            var named = o.StringList("interventions");
            if (named.Count > 0 && step is not (QuizStep or DebateStep or ConformityStep))
                throw o.Invalid("interventions", "only quiz, debate and conformity steps run under interventions");
            foreach (var n in named)
                if (!interventions.ContainsKey(n)) throw o.Invalid("interventions", $"unknown intervention '{n}' (defined: {string.Join(", ", interventions.Keys)})");
            o.RejectUnknownKeys();
            return step with { Agents = participants, Interventions = [.. named.Select(n => interventions[n])] };
        }
        yaml.RejectUnknownKeys();
        return new Scenario(name, seed, System.IO.Path.GetFullPath(path), text, worldPath, worldSpec, agents, steps) { Population = population };
    }

    /// <summary>
    /// The scenario's <c>interventions:</c> by name. Each names its heads (<c>[L1H1, L0H3]</c>) or <c>auto</c>, what is done to them
    /// (<c>ablation: zero | mean | scale</c> with <c>factor</c>; <c>target: peer-attention</c> scales the attention paid to the peers'
    /// statements instead, in the named or auto heads, or in every head when <c>heads</c> is left out), and its agents; a head or layer an agent does not have is refused here, before any work.
    /// <code>
    /// interventions:
    ///   - name: conformity-heads
    ///     heads: auto          # or a list: [L1H1, L0H3]
    ///     top: 2               # auto: how many (default a quarter of the agent's heads)
    ///     auto_facts: 40       # auto: facts (not the step's) to find them on, each read with auto_peers confederates
    ///     ablation: mean       # zero, mean or scale (factor)
    ///     random_draws: 5      # conformity steps: the same number of random other heads, this many times
    ///     agents: [ada]        # default: all
    /// steps:
    ///   - conformity: { facts: 40, wrong_peers: [0, 3], interventions: [conformity-heads] }
    /// </code>
    /// </summary>
    static Dictionary<string, InterventionSpec> Interventions(YamlMap yaml, IReadOnlyList<ScenarioAgent> agents)
    {
        var result = new Dictionary<string, InterventionSpec>();
        foreach (var o in yaml.MapList("interventions"))
        {
            var name = o.String("name");
            if (!AgentName.IsMatch(name)) throw o.Invalid("name", $"'{name}' must start with a letter and hold only letters, digits, '-' or '_' (at most 32)");
            if (result.ContainsKey(name)) throw o.Invalid("name", $"intervention '{name}' is defined twice");
            var target = o.String("target", "heads");
            if (target is not ("heads" or "peer-attention")) throw o.Invalid("target", $"must be heads or peer-attention, got '{target}'");
            bool peerAttention = target == "peer-attention";
            var ablationName = o.String("ablation", peerAttention ? "scale" : "mean");
            var ablation = ablationName switch
            {
                "zero" => Mechanisms.HeadAblation.Zero, "mean" => Mechanisms.HeadAblation.Mean, "scale" => Mechanisms.HeadAblation.Scale,
                _ => throw o.Invalid("ablation", $"must be zero, mean or scale, got '{ablationName}'"),
            };
            if (peerAttention && ablation == Mechanisms.HeadAblation.Mean) throw o.Invalid("ablation", "peer-attention is zeroed or scaled, not mean-ablated");
            double factor = o.Double("factor", 0);
            if (factor < 0) throw o.Invalid("factor", $"must not be negative, got {factor}");
            if (o.Has("factor") && ablation != Mechanisms.HeadAblation.Scale) throw o.Invalid("factor", $"applies to ablation: scale, not {ablationName}");
            var covered = o.StringList("agents");
            foreach (var a in covered) if (agents.All(x => x.Name != a)) throw o.Invalid("agents", $"unknown agent '{a}' (agents: {string.Join(", ", agents.Select(x => x.Name))})");
            var subjects = covered.Count > 0 ? agents.Where(a => covered.Contains(a.Name)).ToList() : [.. agents];
            IReadOnlyList<Mechanisms.HeadRef>? heads = null;
            if (o.HasList("heads"))
            {
                var given = o.StringList("heads");
                heads = [.. given.Select(h => Mechanisms.HeadRef.Parse(h) ?? throw o.Invalid("heads", $"'{h}' is not a head: write L<layer>H<head>, e.g. L1H0"))];
                foreach (var agent in subjects.Where(a => a.Profile.Model.Checkpoint is null))
                {
                    var shape = agent.Profile.Model;
                    if (heads.FirstOrDefault(h => h.Layer >= shape.Layers || h.Head >= shape.Heads) is { } missing)
                        throw o.Invalid("heads", $"agent {agent.Name} has no head {missing} ({shape.Layers} layers × {shape.Heads} heads: L0H0..L{shape.Layers - 1}H{shape.Heads - 1})");
                }
            }
            else if (o.String("heads", "auto") != "auto") throw o.Invalid("heads", $"must be auto or a list of heads such as [L1H0], got '{o.String("heads")}'");
            else if (peerAttention && !o.Has("heads")) heads = []; // peer attention in every head
            int top = o.Int("top", 0);
            if (top < 0 || heads is not null && o.Has("top")) throw o.Invalid("top", heads is null ? $"must not be negative, got {top}" : "applies to heads: auto");
            foreach (var agent in subjects.Where(a => a.Profile.Model.Checkpoint is null && top > a.Profile.Model.Layers * a.Profile.Model.Heads))
                throw o.Invalid("top", $"agent {agent.Name} has {agent.Profile.Model.Layers * agent.Profile.Model.Heads} heads, fewer than {top}");
            int draws = o.Int("random_draws", 5), autoFacts = o.Int("auto_facts", 40), autoPeers = o.Int("auto_peers", 3);
            if (draws is < 0 or > 100) throw o.Invalid("random_draws", $"must be between 0 and 100, got {draws}");
            if (autoFacts < 1) throw o.Invalid("auto_facts", $"must be at least 1, got {autoFacts}");
            if (autoPeers is < 1 or > 10) throw o.Invalid("auto_peers", $"must be between 1 and 10, got {autoPeers}");
            if (draws > 0 && heads is not null && subjects.FirstOrDefault(a => a.Profile.Model.Checkpoint is not null) is { } pretrained)
                throw o.Invalid("random_draws", $"agent {pretrained.Name} is a pretrained checkpoint: random-head controls need heads: auto (or random_draws: 0)");
            o.RejectUnknownKeys();
            result[name] = new InterventionSpec(name, ablation, heads, top, factor, peerAttention, covered.Count > 0 ? covered : null, draws, autoFacts, autoPeers);
        }
        return result;
    }

    static FactSelection Facts(YamlMap o, IReadOnlyList<string> agents, int epoch)
    {
        var value = o.String("facts", "20");
        if (int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var count))
            return count >= 1 ? new FactSelection("sample", count) : throw o.Invalid("facts", $"must be at least 1, got {count}");
        if (value == "all") return new FactSelection("all");
        if (value == "news")
            return epoch > 0 ? new FactSelection("news") : throw o.Invalid("facts", "'news' needs a news step before this one");
        if (value.StartsWith("misinformed:", StringComparison.Ordinal))
        {
            var agent = value["misinformed:".Length..];
            return agents.Contains(agent) ? new FactSelection("misinformed", 0, agent) : throw o.Invalid("facts", $"unknown agent '{agent}'");
        }
        throw o.Invalid("facts", $"expected a number of facts, all, news or misinformed:<agent>, got '{value}'");
    }

    /// <summary>
    /// <paramref name="profileText"/> with each (section, key) set to its value, as YAML (comments are not kept): the
    /// profile the scenario's agent is trained and run with.
    /// </summary>
    static string WithOverrides(string profileText, IEnumerable<(string Section, string Key, string Value)> overrides)
    {
        var stream = new YamlStream();
        stream.Load(new StringReader(profileText));
        var root = stream.Documents.Count > 0 && stream.Documents[0].RootNode is YamlMappingNode map ? map : new YamlMappingNode();
        foreach (var (section, key, value) in overrides)
        {
            if (!root.Children.TryGetValue(new YamlScalarNode(section), out var node) || node is not YamlMappingNode sectionMap)
                root.Children[new YamlScalarNode(section)] = sectionMap = new YamlMappingNode();
            sectionMap.Children[new YamlScalarNode(key)] = new YamlScalarNode(value);
        }
        var writer = new StringWriter();
        new YamlStream(new YamlDocument(root)).Save(writer, assignAnchors: false);
        return writer.ToString();
    }
}
