using Evolution.Core;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;

namespace Evolution.Agents.Protocols;

/// <summary>
/// A step's interventions made concrete for each agent: named heads as given, "auto" the agent's top conformity heads, found
/// by EAP-IG (<see cref="ConformityCircuits"/>) on facts the step does not ask (so the causal check runs on facts not used to
/// find the heads), read with confederates who state a wrong answer. The heads found are recorded as a trace event.
/// </summary>
public static class StepInterventions
{
    public static async Task<Intervention> Resolve(ProtocolContext context, ProtocolStep step, InterventionSpec spec, string agent, IReadOnlyCollection<FactRef> stepFacts)
    {
        if (!spec.Auto) return spec.On(spec.Heads!);
        var heads = await ConformityHeads(context, step, spec, agent, stepFacts);
        int top = spec.Top > 0 ? spec.Top : Math.Max(1, heads.Count / 4);
        return spec.On([.. heads.Take(top).Select(h => new HeadRef(h.Layer, h.Head))]);
    }

    /// <summary>For each step's interventions that covers the agent, the intervention it runs under (the first, if several do).</summary>
    public static async Task<IReadOnlyDictionary<string, Intervention>> ForAgents(ProtocolContext context, ProtocolStep step, IReadOnlyList<string> agents, IReadOnlyCollection<FactRef> stepFacts)
    {
        var result = new Dictionary<string, Intervention>();
        foreach (var spec in step.Interventions)
            foreach (var agent in agents.Where(a => spec.Agents is null || spec.Agents.Contains(a)))
                if (!result.ContainsKey(agent)) result[agent] = await Resolve(context, step, spec, agent, stepFacts);
        return result;
    }

    /// <summary>
    /// As many heads as <paramref name="chosen"/>, drawn at random (seeded by the run, intervention, agent and draw) from the agent's heads
    /// other than <paramref name="chosen"/>: the control for an ablation of <paramref name="chosen"/>.
    /// </summary>
    public static IReadOnlyList<HeadRef> RandomHeads(ProtocolContext context, InterventionSpec spec, string agent, int draw, IReadOnlyList<HeadRef> all, IReadOnlyList<HeadRef> chosen)
    {
        var others = all.Where(h => !chosen.Contains(h)).ToArray();
        new Random(Seeds.Mix(context.Seed, "random-heads", spec.Name, agent, draw)).Shuffle(others);
        return [.. others.Take(chosen.Count).OrderBy(h => h.Layer).ThenBy(h => h.Head)];
    }

    /// <summary>Every head of the agent, from its profile's model shape (a pretrained checkpoint's shape is not known before it loads).</summary>
    public static IReadOnlyList<HeadRef> AllHeads(ProtocolContext context, string agent)
    {
        var shape = context.Profiles[agent].Model;
        if (shape.Checkpoint is not null) throw new InvalidOperationException($"agent {agent} is a pretrained checkpoint: random-head controls need heads: auto");
        return HeadRef.All(shape.Layers, shape.Heads);
    }

    static async Task<IReadOnlyList<HeadEffect>> ConformityHeads(ProtocolContext context, ProtocolStep step, InterventionSpec spec, string agent, IReadOnlyCollection<FactRef> stepFacts)
    {
        var pool = context.World.FactsAt(context.Epoch).Select(f => new FactRef(f.Subject, f.Relation)).Where(f => !stepFacts.Contains(f)).ToArray();
        new Random(Seeds.Mix(context.Seed, "auto-heads", spec.Name, step.Index)).Shuffle(pool);
        return await ConformityHeadSearch.Find(context, step, agent, pool.Take(spec.AutoFacts).ToList(), spec.AutoPeers, spec.Name, "conformity-heads")
            ?? throw new InvalidOperationException($"intervention '{spec.Name}': agent {agent} answers none of {Math.Min(spec.AutoFacts, pool.Length)} facts right alone, so it has no conformity heads to find");
    }
}
