using Akka.Actor;
using Evolution.Agents.Recording;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;

namespace Evolution.Agents;

/// <summary>Pairwise representation similarity between agents, per layer: linear CKA and mutual k-NN (Huh et al. 2024).</summary>
public static class ConvergenceTracer
{
    public static IReadOnlyList<TraceEvent> Compare(int step, IReadOnlyList<(string Agent, IReadOnlyList<(string Hook, double[][] Features)> Layers)> snapshots, int k)
    {
        var traces = new List<TraceEvent>();
        for (int a = 0; a < snapshots.Count; a++)
            for (int b = a + 1; b < snapshots.Count; b++)
            {
                var (la, lb) = (snapshots[a].Layers, snapshots[b].Layers);
                for (int layer = 0; layer < Math.Min(la.Count, lb.Count); layer++)
                    traces.Add(new TraceEvent
                    {
                        Id = $"{step}/convergence/{snapshots[a].Agent}/{snapshots[b].Agent}/{layer}", Step = step, Kind = "convergence",
                        Hook = la[layer].Hook, Layer = layer, AgentA = snapshots[a].Agent, AgentB = snapshots[b].Agent,
                        LinearCka = RepresentationSimilarity.LinearCka(la[layer].Features, lb[layer].Features),
                        MutualKnn = RepresentationSimilarity.MutualKnn(la[layer].Features, lb[layer].Features, k),
                    });
            }
        return traces;
    }

    /// <summary>
    /// Circuit similarity of the same fact across agents (Yao et al. 2024's circuit view of where a fact lives):
    /// edge Jaccard and weighted overlap of every pair of agents' EAP-IG circuits, per fact. Pairs whose graphs
    /// differ in shape (agents of other sizes) or where a circuit is missing are skipped.
    /// </summary>
    public static IReadOnlyList<TraceEvent> CompareCircuits(int step, IReadOnlyList<Protocols.FactRef> facts, IReadOnlyList<(string Agent, IReadOnlyList<Circuit?> Circuits)> circuits)
    {
        var traces = new List<TraceEvent>();
        for (int a = 0; a < circuits.Count; a++)
            for (int b = a + 1; b < circuits.Count; b++)
                for (int f = 0; f < facts.Count; f++)
                {
                    if (circuits[a].Circuits[f] is not { } ca || circuits[b].Circuits[f] is not { } cb) continue;
                    if (ca.Graph.Layers != cb.Graph.Layers || ca.Graph.Heads != cb.Graph.Heads) continue;
                    var diff = CircuitDiff.Compare(ca, cb);
                    traces.Add(new TraceEvent
                    {
                        Id = $"{step}/circuit/{circuits[a].Agent}/{circuits[b].Agent}/{facts[f]}", Step = step, Kind = "circuit",
                        AgentA = circuits[a].Agent, AgentB = circuits[b].Agent, Fact = facts[f].ToString(),
                        EdgeJaccard = diff.EdgeJaccard, WeightedOverlap = diff.WeightedOverlap,
                    });
                }
        return traces;
    }
}

/// <summary>Asks the tracer to compare agents' circuits of the same facts.</summary>
public sealed record CompareCircuits(int Step, IReadOnlyList<Protocols.FactRef> Facts, IReadOnlyList<(string Agent, IReadOnlyList<Circuit?> Circuits)> Circuits);
public sealed record CircuitsCompared(IReadOnlyList<TraceEvent> Traces);

/// <summary>Asks the tracer to compare agents' snapshots.</summary>
public sealed record CompareRepresentations(int Step, IReadOnlyList<(string Agent, IReadOnlyList<(string Hook, double[][] Features)> Layers)> Snapshots, int K);
public sealed record RepresentationsCompared(IReadOnlyList<TraceEvent> Traces);

/// <summary>The tracer actor: runs mechanism measurements off the moderator's thread.</summary>
public sealed class TracerActor : ReceiveActor
{
    public static Props Props() => Akka.Actor.Props.Create(() => new TracerActor());

    public TracerActor()
    {
        Receive<CompareRepresentations>(m => Sender.Tell(new RepresentationsCompared(ConvergenceTracer.Compare(m.Step, m.Snapshots, m.K))));
        Receive<CompareCircuits>(m => Sender.Tell(new CircuitsCompared(ConvergenceTracer.CompareCircuits(m.Step, m.Facts, m.Circuits))));
    }
}
