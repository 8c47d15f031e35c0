using Evolution.Agents.Recording;
using Evolution.Core;

namespace Evolution.Agents.Protocols;

/// <summary>
/// Multi-agent debate with synchronous turns: in round r every agent answers every fact after
/// reading the round r−1 answers of its neighbours (or, in a "reflect" round, only its own).
/// </summary>
public static class Debate
{
    public static async Task Run(ProtocolContext context, DebateStep step)
    {
        var facts = context.Select(step.Facts, step.Index);
        var everyone = context.Participants(step);
        var sizes = step.GroupSizes.Count == 0 ? [everyone.Count] : step.GroupSizes;
        foreach (var size in sizes)
        {
            var agents = everyone.Take(size).ToList();
            string condition = step.GroupSizes.Count == 0 ? "" : $"n={size}";
            var neighbours = GroupNetwork(agents, step, context.Seed);
            if (step.Topology is Topology.SmallWorld or Topology.ScaleFree or Topology.EdgeList)
                context.Report($"debate{(condition == "" ? "" : " " + condition)}: {Statistics(agents, neighbours)}");
            var previous = await context.Ask(step.Index, step.Protocol, condition, 0,
                agents.SelectMany(a => facts.Select(f => new ProtocolContext.Request(a, f, []))).ToList());
            context.Report($"debate{(condition == "" ? "" : " " + condition)}: round 0, accuracy {previous.Count(e => e.Correct) / (double)Math.Max(1, previous.Count):P0}");
            for (int round = 1; round <= step.Rounds; round++)
            {
                var said = previous.ToDictionary(e => (e.Agent, new FactRef(e.Subject, e.Relation)), e => e.Answer);
                bool reflect = step.StrategyOf(round) == "reflect";
                var requests = agents.SelectMany(agent => facts.Select(fact =>
                {
                    var speakers = reflect ? [agent] : neighbours[agent];
                    var peers = speakers.Select(s => new PeerStatement(s, said[(s, fact)], context.Sentence(fact, said[(s, fact)], s, round))).ToList();
                    return new ProtocolContext.Request(agent, fact, peers);
                })).ToList();
                previous = await context.Ask(step.Index, step.Protocol, condition, round, requests);
                context.Report($"debate{(condition == "" ? "" : " " + condition)}: round {round}, accuracy {previous.Count(e => e.Correct) / (double)Math.Max(1, previous.Count):P0}");
            }
        }
        context.LastDebateFacts = facts;
        context.LastDebateStep = step.Index;
    }

    /// <summary>The graph a debate among <paramref name="agents"/> (the first n participants) runs on, seeded by the run's seed, the step and n.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> GroupNetwork(IReadOnlyList<string> agents, DebateStep step, int runSeed) =>
        Neighbours(agents, step, Seeds.Mix(runSeed, "topology", step.Index, agents.Count));

    public static DegreeStatistics Statistics(IReadOnlyList<string> agents, IReadOnlyDictionary<string, IReadOnlyList<string>> neighbours)
    {
        var index = agents.Select((a, i) => (a, i)).ToDictionary(x => x.a, x => x.i);
        return SocialNetwork.Statistics(agents.Select(a => (IReadOnlyList<int>)neighbours[a].Select(b => index[b]).ToList()).ToList());
    }

    /// <summary>Who each agent hears in <paramref name="step"/>'s topology, seeded.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Neighbours(IReadOnlyList<string> agents, DebateStep step, int seed)
    {
        var random = new Random(seed);
        var graph = step.Topology switch
        {
            Topology.SmallWorld => SocialNetwork.WattsStrogatz(agents.Count, step.Degree, step.Rewire, random),
            Topology.ScaleFree => SocialNetwork.BarabasiAlbert(agents.Count, step.Attach, random),
            Topology.EdgeList => SocialNetwork.FromEdges(agents, step.Edges ?? []),
            _ => null,
        };
        return graph is null
            ? Neighbours(agents, step.Topology, step.EdgeProbability, seed)
            : agents.Select((a, i) => (a, i)).ToDictionary(x => x.a, x => (IReadOnlyList<string>)graph[x.i].Select(j => agents[j]).ToList());
    }

    /// <summary>Who each agent hears: everyone else, its two ring neighbours, the hub (the first agent hears everyone), or an Erdős–Rényi graph.</summary>
    public static IReadOnlyDictionary<string, IReadOnlyList<string>> Neighbours(IReadOnlyList<string> agents, Topology topology, double edgeProbability, int seed)
    {
        var result = agents.ToDictionary(a => a, _ => new List<string>());
        int n = agents.Count;
        void Link(int i, int j)
        {
            if (i == j || result[agents[i]].Contains(agents[j])) return;
            result[agents[i]].Add(agents[j]);
            result[agents[j]].Add(agents[i]);
        }
        var random = new Random(seed);
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++)
            {
                bool linked = topology switch
                {
                    Topology.AllToAll => true,
                    Topology.Ring => j == i + 1 || (i == 0 && j == n - 1),
                    Topology.Star => i == 0,
                    _ => random.NextDouble() < edgeProbability,
                };
                if (linked) Link(i, j);
            }
        return result.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<string>)kv.Value.OrderBy(a => agents.ToList().IndexOf(a)).ToList());
    }

    /// <summary>The most frequent answer (ties: the first in <paramref name="answers"/> order).</summary>
    public static string Majority(IEnumerable<string> answers) =>
        answers.Select((a, i) => (a, i)).GroupBy(x => x.a).OrderByDescending(g => g.Count()).ThenBy(g => g.Min(x => x.i)).First().Key;

    public static IReadOnlyList<AnswerEvent> FinalRound(IReadOnlyList<AnswerEvent> events) =>
        events.Where(e => e.Round == events.Max(x => x.Round)).ToList();
}
