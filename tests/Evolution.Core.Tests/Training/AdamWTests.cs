using Evolution.Core.Model;
using Evolution.Core.Training;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Training;

public class AdamWTests
{
    /// <summary>Takes <paramref name="steps"/> steps of next-token loss on fixed random tokens and returns the flattened weights.</summary>
    static float[] Train(int steps, Action<Gpt> zeroGrad, Action<Gpt> step, Gpt model)
    {
        // Its own generator: the global one is reseeded by other test classes running in parallel.
        using var generator = new Generator(5, CPU);
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var batch = randint(0, model.Config.VocabSize, [4, 17], generator: generator);
            var logits = model.forward(batch.narrow(1, 0, 16));
            var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), batch.narrow(1, 1, 16).reshape(-1));
            zeroGrad(model);
            loss.backward();
            step(model);
        }
        using var _ = no_grad();
        return cat(model.parameters().Select(p => p.detach().flatten()).ToList()).data<float>().ToArray();
    }

    /// <summary>
    /// Runs TorchSharp's optimizer step (the reference) with garbage collection held off: its implicit
    /// Scalars are banned elsewhere (RS0030) because a collection during the step can finalize one while
    /// libtorch reads it; with no collection nothing becomes finalizable.
    /// </summary>
    internal static void WithoutCollection(Action step)
    {
        // The no-GC region is process-wide: test classes running in parallel take turns.
        lock (NoCollectionTurn) HeldOffCollection(step);
    }

    static readonly object NoCollectionTurn = new();

    static void HeldOffCollection(Action step)
    {
        Assert.True(GC.TryStartNoGCRegion(32_000_000), "could not hold off garbage collection");
        try
        {
            step();
        }
        finally
        {
            if (System.Runtime.GCSettings.LatencyMode == System.Runtime.GCLatencyMode.NoGCRegion) GC.EndNoGCRegion();
        }
    }

    static (List<TorchSharp.Modules.Parameter> Decay, List<TorchSharp.Modules.Parameter> NoDecay) Split(Gpt model)
    {
        var decay = model.parameters().Where(p => p.dim() >= 2).ToList();
        return (decay, model.parameters().Where(p => p.dim() < 2).ToList());
    }

    [Fact]
    public void SameWeightsAsTorchAdamWWithDecayGroups()
    {
        var config = new GptConfig { VocabSize = 23, ContextLength = 16, DModel = 16, NLayers = 2, NHeads = 2 };
        using var reference = new Gpt(config, 4);
        var (refDecay, refNoDecay) = Split(reference);
        using var torchOptimizer = optim.AdamW([
            new TorchSharp.Modules.AdamW.ParamGroup(refDecay, 3e-3, 0.9, 0.95, 1e-8, 0.1, false, false),
            new TorchSharp.Modules.AdamW.ParamGroup(refNoDecay, 3e-3, 0.9, 0.95, 1e-8, 0.0, false, false)]);
#pragma warning disable RS0030 // the reference, stepped without garbage collection
        var expected = Train(6, _ => torchOptimizer.zero_grad(), _ => WithoutCollection(() => torchOptimizer.step()), reference);
#pragma warning restore RS0030

        using var ours = new Gpt(config, 4);
        var (decay, noDecay) = Split(ours);
        using var optimizer = new AdamW([new AdamW.Group(decay, 0.1), new AdamW.Group(noDecay)], 3e-3, 0.9, 0.95);
        var actual = Train(6, _ => optimizer.ZeroGrad(), _ => optimizer.Step(), ours);

        using var untrained = new Gpt(config, 4);
        var initial = cat(untrained.parameters().Select(p => p.detach().flatten()).ToList()).data<float>().ToArray();
        Assert.NotEqual(initial, actual); // the steps moved the weights
        Assert.Equal(expected, actual);   // and exactly as torch's AdamW does
    }

    [Fact]
    public void WithoutDecayIsTorchAdam()
    {
        var config = new GptConfig { VocabSize = 19, ContextLength = 16, DModel = 16, NLayers = 1, NHeads = 2 };
        using var reference = new Gpt(config, 8);
        using var torchOptimizer = optim.Adam(reference.parameters(), 0.01);
#pragma warning disable RS0030 // the reference, stepped without garbage collection
        var expected = Train(5, _ => torchOptimizer.zero_grad(), _ => WithoutCollection(() => torchOptimizer.step()), reference);
#pragma warning restore RS0030
        using var ours = new Gpt(config, 8);
        using var optimizer = AdamW.Adam(ours.parameters(), 0.01);
        Assert.Equal(expected, Train(5, _ => optimizer.ZeroGrad(), _ => optimizer.Step(), ours));
    }
}
