using Evolution.Core;

namespace Evolution.Agents.Protocols;

/// <summary>
/// Asch-style conformity: each agent answers each fact alone ("alone"), then hears k confederates who
/// all state the same wrong object ("wrong=k"; the wrong object is fixed per fact and drawn from the
/// candidates with the scenario seed), and, optionally, k confederates stating the truth ("right=k") and k confederates
/// of whom one, the ally, states the truth ("ally=k", Asch 1956: one truthful partner cut conformity from about a third to
/// about a twentieth).
/// </summary>
public static class Conformity
{
    public static async Task Run(ProtocolContext context, ConformityStep step)
    {
        var facts = context.Select(step.Facts, step.Index);
        var agents = context.Participants(step);
        await context.Ask(step.Index, step.Protocol, "alone", 0, agents.SelectMany(a => facts.Select(f => new ProtocolContext.Request(a, f, []))).ToList());

        var wrong = facts.ToDictionary(f => f, f =>
        {
            var truth = context.Truth(f);
            var options = context.QuestionFor(f).Candidates.Where(c => c != truth).ToList();
            return options[(int)((uint)Seeds.Mix(context.Seed, "confederate", step.Index, f.Subject, f.Relation) % (uint)options.Count)];
        });
        // Which confederate c of k states the truth: none ("wrong=k"), every one ("right=k"), or the middle one, ⌈k/2⌉, neither first
        // nor nearest the question ("ally=k").
        var counts = step.WrongPeers.Where(k => k > 0).ToList();
        var conditions = counts.Select(k => ($"wrong={k}", k, Truthful: (Func<int, bool>)(_ => false)))
            .Concat(step.RightGuidance ? counts.Select(k => ($"right={k}", k, Truthful: (Func<int, bool>)(_ => true))) : [])
            .Concat(step.Ally ? counts.Where(k => k >= 3).Select(k => ($"ally={k}", k, Truthful: (Func<int, bool>)(c => c == (k + 1) / 2))) : []);
        foreach (var (condition, k, truthful) in conditions)
        {
            var requests = agents.SelectMany(agent => facts.Select(fact =>
            {
                string Said(int c) => truthful(c) ? context.Truth(fact) : wrong[fact];
                var peers = Enumerable.Range(1, k).Select(c => new PeerStatement($"confederate{c}", Said(c), context.Sentence(fact, Said(c), $"confederate{c}", 0))).ToList();
                return new ProtocolContext.Request(agent, fact, peers);
            })).ToList();
            var events = await context.Ask(step.Index, step.Protocol, condition, 0, requests);
            context.Report($"conformity {condition}: {events.Count(e => e.Correct) / (double)Math.Max(1, events.Count):P0} correct");
        }
        await Circuits(context, step, agents);
        await Intervened(context, step, facts, agents, wrong);
    }

    /// <summary>
    /// Each agent's conformity circuit at this step (<see cref="ConformityStep.CircuitFacts"/>), read with as many confederates as
    /// the step's largest k, on the same draw of facts at every step (seeded by the run only): what changes between two steps is
    /// then the agent, not the facts it was measured on.
    /// </summary>
    static async Task Circuits(ProtocolContext context, ConformityStep step, IReadOnlyList<string> agents)
    {
        if (step.CircuitFacts == 0) return;
        var pool = context.World.FactsAt(context.Epoch).Select(f => new FactRef(f.Subject, f.Relation))
            .OrderBy(f => f.Subject).ThenBy(f => f.Relation, StringComparer.Ordinal).ToArray();
        new Random(Seeds.Mix(context.Seed, "conformity-circuit")).Shuffle(pool);
        var facts = pool.Take(step.CircuitFacts).ToList();
        int peers = Math.Max(1, step.WrongPeers.Max());
        foreach (var agent in agents)
            if (await ConformityHeadSearch.Find(context, step, agent, facts, peers, "circuit", "conformity-circuit") is null)
                context.Report($"conformity circuit: agent {agent} answers none of {facts.Count} facts right alone; no circuit at step {step.Index}");
    }

    /// <summary>
    /// The causal check: for each intervention of the step, its agents answer alone and with k wrong confederates again under it
    /// ("alone@name", "wrong=k@name"), and under as many random other heads, <see cref="InterventionSpec.RandomDraws"/> times
    /// ("alone@name~r", "wrong=k@name~r"), so the effect of the chosen heads can be told from that of removing any heads.
    /// </summary>
    static async Task Intervened(ProtocolContext context, ConformityStep step, IReadOnlyList<FactRef> facts, IReadOnlyList<string> agents, IReadOnlyDictionary<FactRef, string> wrong)
    {
        foreach (var spec in step.Interventions)
        {
            var covered = agents.Where(a => spec.Agents is null || spec.Agents.Contains(a)).ToList();
            var runs = new List<(string Suffix, Dictionary<string, Mechanisms.Intervention> ByAgent)>();
            var chosen = new Dictionary<string, Mechanisms.Intervention>();
            foreach (var agent in covered) chosen[agent] = await StepInterventions.Resolve(context, step, spec, agent, facts.ToHashSet());
            runs.Add(($"@{spec.Name}", chosen));
            if (spec.Heads is not { Count: 0 })
                for (int draw = 1; draw <= spec.RandomDraws; draw++)
                    runs.Add(($"@{spec.Name}~{draw}", covered.ToDictionary(a => a, a => spec.On(
                        StepInterventions.RandomHeads(context, spec, a, draw, StepInterventions.AllHeads(context, a), chosen[a].Heads), $"{spec.Name}~{draw}"))));
            foreach (var (suffix, byAgent) in runs)
            {
                await context.Ask(step.Index, step.Protocol, "alone" + suffix, 0,
                    [.. covered.SelectMany(a => facts.Select(f => new ProtocolContext.Request(a, f, [], byAgent[a])))]);
                foreach (var k in step.WrongPeers.Where(k => k > 0))
                {
                    var events = await context.Ask(step.Index, step.Protocol, $"wrong={k}{suffix}", 0, [.. covered.SelectMany(a => facts.Select(f =>
                        new ProtocolContext.Request(a, f, [.. Enumerable.Range(1, k).Select(c => new PeerStatement($"confederate{c}", wrong[f], context.Sentence(f, wrong[f], $"confederate{c}", 0)))], byAgent[a])))]);
                    context.Report($"conformity wrong={k}{suffix}: {events.Count(e => e.Correct) / (double)Math.Max(1, events.Count):P0} correct");
                }
            }
        }
    }
}
