using Akka.Actor;
using Evolution.Agents.Recording;
using Evolution.Mechanisms;

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
}

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
    }
}
