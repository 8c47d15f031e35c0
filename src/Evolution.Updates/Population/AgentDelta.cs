using System.Text.RegularExpressions;
using Evolution.Core.Model;
using static TorchSharp.torch;

namespace Evolution.Updates.Population;

/// <summary>
/// An agent's own parametric updates over a shared base: per edited layer, the change of that layer's MLP output
/// projection (<see cref="LayerDelta"/>), low-rank where the editor wrote a low-rank change. Applied per row through
/// hook points (<see cref="RowDeltaHooks"/>), never written into the base, so one base serves many agents. Immutable;
/// owns its layer deltas.
/// </summary>
public sealed partial class AgentDelta : IDisposable
{
    readonly SortedDictionary<int, LayerDelta> layers;

    public AgentDelta(IReadOnlyDictionary<int, LayerDelta> layers)
    {
        foreach (var layer in layers.Keys)
            if (layer < 0) throw new ArgumentOutOfRangeException(nameof(layers), layer, "a layer index cannot be negative");
        this.layers = new SortedDictionary<int, LayerDelta>(layers.ToDictionary(p => p.Key, p => p.Value));
    }

    /// <summary>No update: the base's own answers.</summary>
    public static AgentDelta None => new(new Dictionary<int, LayerDelta>());

    /// <summary>Edited layers, ascending.</summary>
    public IReadOnlyDictionary<int, LayerDelta> Layers => layers;

    /// <summary>What the agent owns, in bytes (float32 factors or dense matrices).</summary>
    public long Bytes => layers.Values.Sum(d => d.Bytes);

    /// <summary>The parameter an edited layer changes.</summary>
    public static string WeightName(int layer) => $"blocks.{layer}.mlp.c_proj.weight";

    /// <summary>
    /// An editor's dense <see cref="WeightDelta"/> as an agent delta: each MLP output projection factored by
    /// <see cref="LayerDelta.Factor"/> (exact to the tolerance; dense when not low-rank). Other parameters (plain FT
    /// changes every weight) cannot be applied at the MLP output and are refused by name.
    /// </summary>
    public static AgentDelta From(WeightDelta delta, double relativeTolerance = LayerDelta.DefaultTolerance)
    {
        var parsed = new Dictionary<int, LayerDelta>();
        try
        {
            foreach (var (name, change) in delta.Delta)
            {
                var match = OutputProjection().Match(name);
                if (!match.Success)
                    throw new ArgumentException($"parameter '{name}' cannot be held in an agent delta: only MLP output projections (blocks.{{l}}.mlp.c_proj.weight) are applied per row", nameof(delta));
                parsed[int.Parse(match.Groups[1].Value)] = LayerDelta.Factor(change, relativeTolerance);
            }
            return new AgentDelta(parsed);
        }
        catch
        {
            foreach (var d in parsed.Values) d.Dispose();
            throw;
        }
    }

    /// <summary>This agent's updates followed by <paramref name="next"/> (sequential edits add): factors concatenate per layer.</summary>
    public AgentDelta Then(AgentDelta next)
    {
        var combined = new Dictionary<int, LayerDelta>();
        foreach (var layer in layers.Keys.Union(next.layers.Keys))
            combined[layer] = (layers.GetValueOrDefault(layer), next.layers.GetValueOrDefault(layer)) switch
            {
                (LayerDelta a, LayerDelta b) => a.Plus(b),
                (LayerDelta a, null) => a.Copy(), // the result owns its tensors
                (null, LayerDelta b) => b.Copy(),
                _ => throw new InvalidOperationException("unreachable"),
            };
        return new AgentDelta(combined);
    }

    /// <summary>Every layer re-factored to its smallest rank (<see cref="LayerDelta.Compressed"/>).</summary>
    public AgentDelta Compressed(double relativeTolerance = LayerDelta.DefaultTolerance) =>
        new(layers.ToDictionary(p => p.Key, p => p.Value.Compressed(relativeTolerance)));

    /// <summary>Throws, naming the parameter and both shapes, unless every edited layer exists in <paramref name="config"/> with this shape.</summary>
    public void CheckFits(GptConfig config)
    {
        foreach (var (layer, d) in layers)
        {
            if (layer >= config.NLayers)
                throw new ArgumentException($"the agent delta edits {WeightName(layer)}, but the base has layers 0..{config.NLayers - 1} only");
            if (d.DModel != config.DModel || d.DMlp != config.DMlp)
                throw new ArgumentException($"{WeightName(layer)}: the agent delta is [{d.DModel}, {d.DMlp}], the base weight is [{config.DModel}, {config.DMlp}]");
        }
    }

    /// <summary>
    /// The same change as a dense <see cref="WeightDelta"/> against <paramref name="model"/>'s current weights, to write
    /// into a private copy of a model (the one-agent-at-a-time reference: Apply, answer, Revert).
    /// </summary>
    public WeightDelta ToWeightDelta(Gpt model)
    {
        CheckFits(model.Config);
        using var _ = no_grad();
        var weights = layers.Keys.ToDictionary(WeightName, l => model.Blocks[l].Mlp.Out.weight!);
        var delta = layers.ToDictionary(p => WeightName(p.Key), p => p.Value.ToDense().to(weights[WeightName(p.Key)].device));
        return new WeightDelta(delta, weights.ToDictionary(p => p.Key, p => p.Value.detach().clone()));
    }

    [GeneratedRegex(@"^blocks\.(\d+)\.mlp\.c_proj\.weight$")]
    private static partial Regex OutputProjection();

    public void Dispose()
    {
        foreach (var d in layers.Values) d.Dispose();
    }
}
