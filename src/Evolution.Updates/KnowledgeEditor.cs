using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates;

/// <summary>One fact to write: after the edit, <see cref="Prompt"/> should be continued by " " + <see cref="TargetNew"/>.</summary>
/// <param name="EssencePrompts">Prompts about the subject whose continuation the edit should leave as it was (ROME's
/// essence-drift term, <see cref="RomeHyperParams.Essence"/>); for a world's fact, the subject's other relations
/// (<see cref="EditEvaluation.EssencePrompts"/>). Null or empty: none beyond ROME's "{subject} is a".</param>
public sealed record EditRequest(string Prompt, string Subject, string TargetNew, IReadOnlyList<string>? EssencePrompts = null);

/// <summary>
/// What an edit changed: parameter name → (weights after − weights before). Recorded so an edit can
/// be stored, reverted and re-applied; reverting restores the original weights bit for bit because
/// the originals are kept, not recomputed by subtraction.
/// </summary>
public sealed class WeightDelta : IDisposable
{
    readonly Dictionary<string, Tensor> delta;
    readonly Dictionary<string, Tensor> original;

    public WeightDelta(Dictionary<string, Tensor> delta, Dictionary<string, Tensor> original)
    {
        this.delta = delta;
        this.original = original;
    }

    public IReadOnlyDictionary<string, Tensor> Delta => delta;

    /// <summary>Bytes needed to store the delta (fp32).</summary>
    public long Bytes => delta.Values.Sum(t => t.numel() * 4);

    /// <summary>Writes original + delta into the model's parameters.</summary>
    public void Apply(Gpt model)
    {
        using var _ = no_grad();
        var parameters = Parameters(model);
        foreach (var (name, d) in delta) parameters[name].copy_(original[name].add(d, Scalars.One));
    }

    /// <summary>Restores the exact original weights.</summary>
    public void Revert(Gpt model)
    {
        using var _ = no_grad();
        var parameters = Parameters(model);
        foreach (var (name, o) in original) parameters[name].copy_(o);
    }

    internal static Dictionary<string, TorchSharp.Modules.Parameter> Parameters(Gpt model) =>
        model.named_parameters().ToDictionary(p => p.name, p => p.parameter);

    public void Dispose()
    {
        foreach (var t in delta.Values.Concat(original.Values)) t.Dispose();
    }
}

/// <summary>
/// A parametric knowledge editor (EasyEdit's interface): computes the weight change that writes the
/// requested facts, leaving the model unchanged; the caller applies, records or reverts the delta.
/// </summary>
public interface IKnowledgeEditor
{
    string Name { get; }
    WeightDelta ComputeDelta(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests);
}
