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
    }
}
