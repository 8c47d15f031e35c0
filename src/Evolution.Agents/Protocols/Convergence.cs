using Evolution.Core;

namespace Evolution.Agents.Protocols;

/// <summary>Representation convergence: every agent's hidden states on the same entity names, compared pairwise by the tracer.</summary>
public static class Convergence
{
    public static async Task Run(ProtocolContext context, ConvergenceStep step)
    {
        var names = context.World.Entities.Select(e => e.Name).ToArray();
        new Random(Seeds.Mix(context.Seed, "probes", step.Index)).Shuffle(names);
        var probes = names.Take(step.Probes).ToList();
        var agents = context.Participants(step);
        var snapshots = new List<(string, IReadOnlyList<(string, double[][])>)>();
        foreach (var agent in agents)
            snapshots.Add((agent, await context.Group.Snapshot(agent, $"{step.Index}/convergence/{agent}", probes)));
        var traces = await context.Group.CompareRepresentations(step.Index, snapshots, Math.Min(step.K, probes.Count - 1));
        foreach (var t in traces) context.Sink.Record(t);
        context.Report($"convergence: {agents.Count} agents, {probes.Count} probes, mean CKA {(traces.Count == 0 ? double.NaN : traces.Average(t => t.LinearCka)):F2}");
        if (step.CircuitFacts > 0) await Circuits(context, step, agents);
    }

    /// <summary>Circuit similarity: the same sampled facts (true objects at the current epoch) traced in every agent, compared pairwise.</summary>
    static async Task Circuits(ProtocolContext context, ConvergenceStep step, IReadOnlyList<string> agents)
    {
        var facts = context.World.FactsAt(context.Epoch).ToArray();
        new Random(Seeds.Mix(context.Seed, "circuit-facts", step.Index)).Shuffle(facts);
        var chosen = facts.Take(step.CircuitFacts).Select(f => new FactRef(f.Subject, f.Relation)).ToList();
        var circuits = new List<(string, IReadOnlyList<Mechanisms.Circuits.Circuit?>)>();
        foreach (var agent in agents)
            circuits.Add((agent, await context.Group.Circuits(agent, $"{step.Index}/circuits/{agent}", chosen, context.Epoch, step.EdgeFraction)));
        var traces = await context.Group.CompareCircuits(step.Index, chosen, circuits);
        foreach (var t in traces) context.Sink.Record(t);
        context.Report($"circuits: {chosen.Count} facts, {traces.Count} agent pairs × facts, mean edge Jaccard {(traces.Count == 0 ? double.NaN : traces.Average(t => t.EdgeJaccard)):F2}");
    }
}
