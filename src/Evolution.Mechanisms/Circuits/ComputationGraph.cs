using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Circuits;

/// <summary>One edge: upstream node output → downstream node input (a head's q, k or v input, an MLP's input, or the logits).</summary>
public sealed record Edge(int Index, int Upstream, int Downstream, string Name);

/// <summary>
/// The computation graph of a transformer as a circuit search sees it (Yao et al. 2024,
/// "Knowledge Circuits in Pretrained Transformers"; Hanna et al. 2024, "Have Faith in
/// Faithfulness", EAP-IG). Upstream nodes write to the residual stream: the input (token plus
/// position embedding), every attention head (attn.hook_result) and every MLP (hook_mlp_out).
/// Downstream inputs read it: each head's query, key and value input separately (the split inputs
/// hook_q/k/v_input), each MLP's input (hook_mlp_in) and the logits (the final residual). Every
/// upstream node that runs before a downstream input has an edge to it. Since the residual stream is
/// a sum, a downstream input is the sum of its incoming edges (plus biases), which is what makes
/// edge-level patching possible.
/// Indexing, in forward order: upstream 0 = input, 1 + l(H+1) + h = head (l, h), 1 + l(H+1) + H =
/// MLP l; downstream l(3H+1) + {h, H+h, 2H+h} = head (l, h)'s q, k, v, l(3H+1) + 3H = MLP l,
/// L(3H+1) = logits.
/// </summary>
public sealed class ComputationGraph
{
    public int Layers { get; }
    public int Heads { get; }
    public int UpstreamCount => 1 + Layers * (Heads + 1);
    public int DownstreamCount => Layers * (3 * Heads + 1) + 1;
    public IReadOnlyList<Edge> Edges { get; }

    public ComputationGraph(int layers, int heads)
    {
        (Layers, Heads) = (layers, heads);
        var edges = new List<Edge>();
        for (int d = 0; d < DownstreamCount; d++)
            for (int u = 0; u < UpstreamCount; u++)
                if (UpstreamStage(u) < DownstreamStage(d))
                    edges.Add(new Edge(edges.Count, u, d, $"{UpstreamName(u)}->{DownstreamName(d)}"));
        Edges = edges;
    }

    public static ComputationGraph For(Core.Model.Gpt model) => new(model.Config.NLayers, model.Config.NHeads);

    public int HeadNode(int layer, int head) => 1 + layer * (Heads + 1) + head;
    public int MlpNode(int layer) => 1 + layer * (Heads + 1) + Heads;
    public int QueryInput(int layer, int head, int which) => layer * (3 * Heads + 1) + which * Heads + head; // which: 0 q, 1 k, 2 v
    public int MlpInput(int layer) => layer * (3 * Heads + 1) + 3 * Heads;
    public int LogitsInput => Layers * (3 * Heads + 1);

    /// <summary>Where in the forward pass a node writes: input −1, attention of layer l 2l, MLP of layer l 2l+1.</summary>
    public int UpstreamStage(int u) => u == 0 ? -1 : 2 * ((u - 1) / (Heads + 1)) + ((u - 1) % (Heads + 1) == Heads ? 1 : 0);

    /// <summary>Where an input is read: head inputs of layer l 2l, MLP input of layer l 2l+1, logits 2L.</summary>
    public int DownstreamStage(int d) => d == LogitsInput ? 2 * Layers : 2 * (d / (3 * Heads + 1)) + (d % (3 * Heads + 1) == 3 * Heads ? 1 : 0);

    public string UpstreamName(int u) => u == 0 ? "input"
        : (u - 1) % (Heads + 1) == Heads ? $"m{(u - 1) / (Heads + 1)}" : $"a{(u - 1) / (Heads + 1)}.h{(u - 1) % (Heads + 1)}";

    /// <summary>The node an input belongs to: a head's q/k/v input → that head, an MLP input → that MLP.</summary>
    public string DownstreamNode(int d)
    {
        if (d == LogitsInput) return "logits";
        int layer = d / (3 * Heads + 1), within = d % (3 * Heads + 1);
        return within == 3 * Heads ? $"m{layer}" : $"a{layer}.h{within % Heads}";
    }

    public string DownstreamName(int d)
    {
        if (d == LogitsInput || d % (3 * Heads + 1) == 3 * Heads) return DownstreamNode(d);
        return $"{DownstreamNode(d)}<{"qkv"[d % (3 * Heads + 1) / Heads]}>";
    }

    /// <summary>1 where an edge exists, as [upstream, downstream].</summary>
    public Tensor ValidMask() => Dense(Enumerable.Repeat(1f, Edges.Count).ToArray());

    /// <summary>A per-edge vector (in <see cref="Edges"/> order) as a dense [upstream, downstream] matrix.</summary>
    public Tensor Dense(IReadOnlyList<float> perEdge)
    {
        var dense = new float[UpstreamCount * DownstreamCount];
        foreach (var e in Edges) dense[e.Upstream * DownstreamCount + e.Downstream] = perEdge[e.Index];
        return tensor(dense, [UpstreamCount, DownstreamCount]);
    }

    /// <summary>A dense [..., upstream, downstream] matrix read back in <see cref="Edges"/> order.</summary>
    public float[] PerEdge(Tensor dense)
    {
        var values = dense.contiguous().cpu().data<float>().ToArray();
        return Edges.Select(e => values[e.Upstream * DownstreamCount + e.Downstream]).ToArray();
    }
}
