using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>Put the source run's activation at <see cref="Hook"/> (at one position, or all when null) into a row of the patched run.</summary>
public sealed record Patch(string Hook, int? Position = null);

/// <summary>
/// Activation patching (Vig et al. 2020; Meng et al. 2022; Heimersheim &amp; Nanda 2024) as one API:
/// a source run (usually clean) is cached at the hooks the patches name; then one batched forward
/// runs the target input (usually corrupted, by other tokens or by corruption hooks)
/// with row b receiving the patches of <c>rows[b]</c>. A whole grid of patches costs one forward.
/// </summary>
public static class ActivationPatching
{
    /// <returns>Logits [rows, pos, vocab] of the patched runs.</returns>
    public static Tensor Run(Gpt model, Tensor sourceTokens, Tensor targetTokens, IReadOnlyList<IReadOnlyList<Patch>> rows,
        IReadOnlyList<Hook>? corruption = null)
    {
        var hookNames = rows.SelectMany(r => r.Select(p => p.Hook)).ToHashSet();
        var (_, source) = model.RunWithCache(sourceTokens, hookNames.Contains);
        using (source)
            return Run(model, source, targetTokens, rows, corruption);
    }

    /// <summary>Same, with the source activations already cached (batch 1).</summary>
    public static Tensor Run(Gpt model, ActivationCache source, Tensor targetTokens, IReadOnlyList<IReadOnlyList<Patch>> rows,
        IReadOnlyList<Hook>? corruption = null)
    {
        var batch = targetTokens.shape[0] == rows.Count ? targetTokens : targetTokens.expand(rows.Count, targetTokens.shape[^1]);
        var hooks = new List<Hook>(corruption ?? []);
        foreach (var group in rows.SelectMany((patches, row) => patches.Select(p => (Row: row, Patch: p))).GroupBy(x => x.Patch.Hook))
        {
            var entries = group.ToList();
            var clean = source[group.Key];
            hooks.Add(Hook.On(group.Key, (activation, _) =>
            {
                var patched = activation.clone();
                long positions = activation.shape[1];
                foreach (var (row, patch) in entries)
                {
                    if (patch.Position is int p)
                        patched.index_put_(clean[0, p], [TensorIndex.Single(row), TensorIndex.Single(p)]);
                    else
                        patched.index_put_(clean[0, TensorIndex.Slice(0, positions)], [TensorIndex.Single(row)]);
                }
                return patched;
            }));
        }
        return model.RunWithHooks(batch, [.. hooks]);
    }
}
