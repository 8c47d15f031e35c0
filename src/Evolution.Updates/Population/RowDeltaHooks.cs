using Evolution.Core;
using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates.Population;

/// <summary>
/// Hooks that let one forward pass over a shared base answer for many agents: row b of the batch behaves as if the
/// base's MLP output projections were W + ΔW_a(b), its own agent's change, while the base weights are never written.
/// Since (W + U Vᵀ) k + b = (W k + b) + U (Vᵀ k), each edited layer reads the MLP key k at <c>blocks.{l}.mlp.hook_post</c>
/// ([B, T, d_mlp], the input of c_proj) and adds U_a (V_aᵀ k) to the MLP output at <c>blocks.{l}.hook_mlp_out</c>
/// ([B, T, d_model]); a dense ΔW adds ΔW k. Rows whose agent has no change at a layer add exact zeros there (x + 0 = x).
/// </summary>
public static class RowDeltaHooks
{
    /// <summary>
    /// The hooks for one batch; <paramref name="rowDeltas"/>[b] is row b's agent's delta (null: none). Deltas are
    /// checked against <paramref name="config"/> first. The hooks hold the batch's gathered factors; make them inside
    /// the forward's dispose scope.
    /// </summary>
    public static IReadOnlyList<Hook> For(IReadOnlyList<AgentDelta?> rowDeltas, GptConfig config)
    {
        var agents = rowDeltas.OfType<AgentDelta>().Distinct().ToList(); // by reference: one entry per agent
        foreach (var agent in agents) agent.CheckFits(config);
        return agents.SelectMany(a => a.Layers.Keys).Distinct().Order()
            .SelectMany(layer => LayerHooks(layer, rowDeltas, agents))
            .ToList();
    }

    /// <summary>
    /// The pair of hooks of one layer. Low-rank agents are padded to the batch's largest rank with zero columns and
    /// gathered per row, so the whole batch takes two batched matmuls (k·V_row [B,T,r], then ·U_rowᵀ) whatever the
    /// number of agents in it. Grouping rows by agent instead takes a gather, two matmuls and a scatter per agent:
    /// measured on the default agent's shape (L4-D128, 512 rows of 16 tokens, rank 1 at the last layer, 2 loaded cores),
    /// the hook's own work was 2.4–3x smaller padded than grouped at 16, 128 and 512 agents per batch (e.g. 5.3 against
    /// 12.7 ms at 128), both well under the forward itself (130–820 ms under that load). Dense deltas are grouped by
    /// agent: a dense ΔW costs a full d_model×d_mlp product per row either way, and gathering it per row would copy B
    /// dense matrices.
    /// </summary>
    static IEnumerable<Hook> LayerHooks(int layer, IReadOnlyList<AgentDelta?> rowDeltas, IReadOnlyList<AgentDelta> agents)
    {
        var factored = agents.Where(a => a.Layers.TryGetValue(layer, out var d) && !d.IsDense && d.Rank > 0).ToList();
        var dense = agents.Where(a => a.Layers.TryGetValue(layer, out var d) && d.IsDense).ToList();
        if (factored.Count == 0 && dense.Count == 0) yield break;

        Tensor? pending = null; // the MLP output change of this batch, computed from k, added at the MLP output
        yield return Hook.On($"blocks.{layer}.mlp.hook_post", (key, _) =>
        {
            pending = FactoredChange(layer, key, rowDeltas, factored);
            foreach (var agent in dense)
            {
                var rows = RowsOf(agent, rowDeltas, key.device);
                var change = key.index_select(0, rows).matmul(agent.Layers[layer].DenseWeight!.to(key.device).t());
                pending = pending is null
                    ? zeros(key.shape[0], key.shape[1], change.shape[2], dtype: key.dtype, device: key.device).index_add_(0, rows, change, Scalars.One)
                    : pending.index_add_(0, rows, change, Scalars.One);
            }
            return key;
        });
        yield return Hook.On($"blocks.{layer}.hook_mlp_out", (output, name) =>
        {
            var change = pending ?? throw new InvalidOperationException($"hook '{name}' ran before blocks.{layer}.mlp.hook_post in this forward");
            pending = null;
            return output.add(change, Scalars.One);
        });
    }

    /// <summary>U_a(b) (V_a(b)ᵀ k) for every row, [B, T, d_model], with agents padded to the largest rank; null when no agent is factored here.</summary>
    static Tensor? FactoredChange(int layer, Tensor key, IReadOnlyList<AgentDelta?> rowDeltas, IReadOnlyList<AgentDelta> factored)
    {
        if (factored.Count == 0) return null;
        var deltas = factored.Select(a => a.Layers[layer]).ToList();
        int rank = deltas.Max(d => d.Rank);
        long dModel = deltas[0].DModel, dMlp = deltas[0].DMlp;
        // Slot 0 is the zero delta of rows without a factored change here; slot i + 1 is factored[i].
        var up = zeros(factored.Count + 1, dModel, rank, dtype: key.dtype, device: key.device);
        var down = zeros(factored.Count + 1, dMlp, rank, dtype: key.dtype, device: key.device);
        for (int i = 0; i < deltas.Count; i++)
        {
            up[i + 1].narrow(1, 0, deltas[i].Rank).copy_(deltas[i].U!);
            down[i + 1].narrow(1, 0, deltas[i].Rank).copy_(deltas[i].V!);
        }
        var slotOf = factored.Select((a, i) => (a, i)).ToDictionary(p => p.a, p => (long)p.i + 1);
        var slots = tensor(rowDeltas.Select(d => d is not null && slotOf.TryGetValue(d, out var s) ? s : 0L).ToArray(), device: key.device);
        var coefficients = key.bmm(down.index_select(0, slots));          // [B, T, r] = k · V_a(b)
        return coefficients.bmm(up.index_select(0, slots).transpose(1, 2)); // [B, T, d_model] = (Vᵀk)ᵀ U_a(b)ᵀ
    }

    static Tensor RowsOf(AgentDelta agent, IReadOnlyList<AgentDelta?> rowDeltas, Device device) =>
        tensor(Enumerable.Range(0, rowDeltas.Count).Where(b => ReferenceEquals(rowDeltas[b], agent)).Select(b => (long)b).ToArray(), device: device);
}
