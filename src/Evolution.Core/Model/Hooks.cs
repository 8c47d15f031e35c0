using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// A function applied to an activation at a named hook point; it returns the activation to use
/// from then on (the same tensor to read, a new one to replace or add).
/// </summary>
public delegate Tensor HookFunction(Tensor activation, string hookName);

/// <summary>
/// A hook on every hook point whose name the predicate accepts, in the spirit of TransformerLens'
/// <c>run_with_hooks(fwd_hooks=[(name_or_filter, fn)])</c>.
/// </summary>
public sealed record Hook(Func<string, bool> Matches, HookFunction Function)
{
    public static Hook On(string name, HookFunction function) => new(n => n == name, function);

    /// <summary>Reads the activation without changing it.</summary>
    public static Hook Read(string name, Action<Tensor, string> read) =>
        On(name, (a, n) => { read(a, n); return a; });

    /// <summary>Replaces the activation by what <paramref name="replacement"/> returns (same shape).</summary>
    public static Hook Replace(string name, Func<Tensor, Tensor> replacement) =>
        On(name, (a, n) => CheckShape(n, a, replacement(a)));

    /// <summary>Adds a delta (broadcastable to the activation), e.g. a steering vector.</summary>
    public static Hook Add(string name, Tensor delta) => On(name, (a, _) => a.add(delta, Scalars.One));

    static Tensor CheckShape(string name, Tensor original, Tensor replacement)
    {
        if (!original.shape.SequenceEqual(replacement.shape))
            throw new ArgumentException(
                $"hook '{name}': replacement has shape [{string.Join(",", replacement.shape)}], activation has [{string.Join(",", original.shape)}]");
        return replacement;
    }
}

/// <summary>
/// State of one hooked forward pass: which hooks run and which activations are cached.
/// The model asks <see cref="Wants"/> before computing optional intermediates (per-head
/// results, explicit attention patterns), so a plain forward pays for none of them.
/// </summary>
public sealed class HookContext
{
    readonly IReadOnlyList<Hook> hooks;
    readonly Func<string, bool>? cacheFilter;
    readonly bool detachCache;

    public HookContext(IReadOnlyList<Hook>? hooks = null, Func<string, bool>? cacheFilter = null, bool detachCache = true)
    {
        this.hooks = hooks ?? [];
        this.cacheFilter = cacheFilter;
        this.detachCache = detachCache;
        Cache = new ActivationCache();
    }

    public ActivationCache Cache { get; }

    public bool Wants(string name) => (cacheFilter?.Invoke(name) ?? false) || hooks.Any(h => h.Matches(name));

    public Tensor Apply(string name, Tensor activation)
    {
        foreach (var hook in hooks)
            if (hook.Matches(name))
                activation = hook.Function(activation, name);
        if (cacheFilter?.Invoke(name) ?? false)
            Cache.Store(name, detachCache ? activation.detach() : activation);
        return activation;
    }
}

/// <summary>Activations recorded by name; owns its tensors (dispose the cache to free them).</summary>
public sealed class ActivationCache : IDisposable
{
    readonly Dictionary<string, Tensor> activations = new();

    public Tensor this[string name] => activations.TryGetValue(name, out var t)
        ? t
        : throw new KeyNotFoundException($"activation '{name}' was not cached; cached: {string.Join(", ", activations.Keys.Take(8))}{(activations.Count > 8 ? ", ..." : "")}");

    public IReadOnlyCollection<string> Names => activations.Keys;
    public bool Contains(string name) => activations.ContainsKey(name);

    internal void Store(string name, Tensor activation)
    {
        if (activations.Remove(name, out var old)) old.Dispose();
        activations[name] = activation.DetachFromDisposeScope();
    }

    public void Dispose()
    {
        foreach (var t in activations.Values) t.Dispose();
        activations.Clear();
    }
}
