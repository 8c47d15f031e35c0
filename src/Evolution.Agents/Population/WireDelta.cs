using System.Runtime.InteropServices;
using Evolution.Updates.Population;
using static TorchSharp.torch;

namespace Evolution.Agents.Population;

/// <summary>
/// An agent's delta as it travels to a base on another node: per edited layer, its factors (or its dense change) as the raw
/// bytes of their float32 values, so the base there applies exactly the change the coordinator computed (an edit is computed
/// once, where the population lives, never again on a worker).
/// </summary>
public sealed record WireDelta(IReadOnlyList<WireLayer> Layers)
{
    public static WireDelta From(AgentDelta delta) =>
        new([.. delta.Layers.Select(p => p.Value.IsDense
            ? new WireLayer(p.Key, p.Value.DModel, p.Value.DMlp, null, null, Bytes(p.Value.DenseWeight!))
            : new WireLayer(p.Key, p.Value.DModel, p.Value.DMlp, Bytes(p.Value.U!), Bytes(p.Value.V!), null))]);

    /// <summary>The delta again (new tensors, owned by the caller).</summary>
    public AgentDelta ToDelta()
    {
        var layers = new Dictionary<int, LayerDelta>();
        try
        {
            foreach (var layer in Layers) layers[layer.Layer] = layer.ToLayerDelta();
            return new AgentDelta(layers);
        }
        catch
        {
            foreach (var d in layers.Values) d.Dispose();
            throw;
        }
    }

    static byte[] Bytes(Tensor t) => MemoryMarshal.AsBytes(t.contiguous().cpu().data<float>().ToArray().AsSpan()).ToArray();
}

/// <summary>One layer of a <see cref="WireDelta"/>: U [d_model, r] and V [d_mlp, r], or the dense ΔW [d_model, d_mlp], as float32 bytes.</summary>
public sealed record WireLayer(int Layer, long DModel, long DMlp, byte[]? U, byte[]? V, byte[]? Dense)
{
    public LayerDelta ToLayerDelta()
    {
        if (Dense is not null)
        {
            using var dense = Tensor(Dense, DModel, DMlp, "the dense change");
            return LayerDelta.Dense(dense);
        }
        if (U is null || V is null) throw new ArgumentException($"layer {Layer} of a delta carries neither factors nor a dense change");
        long rank = U.Length / 4 / Math.Max(1, DModel);
        using var u = Tensor(U, DModel, rank, "U");
        using var v = Tensor(V, DMlp, rank, "V");
        return LayerDelta.LowRank(u, v);
    }

    Tensor Tensor(byte[] bytes, long rows, long columns, string what)
    {
        if (bytes.Length != rows * columns * 4)
            throw new ArgumentException($"layer {Layer} of a delta: {what} has {bytes.Length} bytes, [{rows}, {columns}] float32 needs {rows * columns * 4}");
        return tensor(MemoryMarshal.Cast<byte, float>(bytes).ToArray(), [rows, columns]);
    }
}
