using Evolution.Core.Model;
using Evolution.Core.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Tests.Training;

public class FlatParametersTests
{
    static readonly GptConfig Config = new() { VocabSize = 23, ContextLength = 16, DModel = 16, NLayers = 2, NHeads = 2 };

    static float[] Weights(Gpt model)
    {
        using var _ = no_grad();
        return cat(model.parameters().Select(p => p.detach().flatten()).ToList()).data<float>().ToArray();
    }

    /// <summary>Next-token loss on fixed random tokens, <paramref name="steps"/> times: zero, backward, clip, step.</summary>
    static void Train(Gpt model, int steps, Action zeroGrad, Action clip, Action step)
    {
        using var generator = new Generator(5, CPU);
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            var batch = randint(0, Config.VocabSize, [4, 17], generator: generator);
            var logits = model.forward(batch.narrow(1, 0, 16));
            var loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), batch.narrow(1, 1, 16).reshape(-1));
            zeroGrad();
            loss.backward();
            clip();
            step();
        }
    }

    [Fact]
    public void SameWeightsAsPerTensorClippingAndTorchAdamW()
    {
        const double maxNorm = 0.05; // small enough that every step clips
        using var reference = new Gpt(Config, 4);
        var refParameters = reference.parameters().ToArray();
        using var torchOptimizer = optim.AdamW([
            new TorchSharp.Modules.AdamW.ParamGroup(refParameters.Where(p => p.dim() >= 2), 3e-3, 0.9, 0.95, 1e-8, 0.1, false, false),
            new TorchSharp.Modules.AdamW.ParamGroup(refParameters.Where(p => p.dim() < 2), 3e-3, 0.9, 0.95, 1e-8, 0.0, false, false)]);
        int clipped = 0;
        void PerTensorClip()
        {
            // The per-tensor rule the trainer used before its buffer was flat.
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            using var epsilon = 1e-6.ToScalar();
            using var one = 1.0.ToScalar();
            using var bound = maxNorm.ToScalar();
            var grads = refParameters.Select(p => p.grad!).ToArray();
            var total = stack(grads.Select(g => g.norm()).ToArray()).norm();
            if (total.item<float>() > maxNorm) clipped++;
            var scale = total.add(epsilon, one).reciprocal_().mul_(bound).clamp_max_(one);
            foreach (var g in grads) g.mul_(scale);
        }
#pragma warning disable RS0030 // the reference, stepped without garbage collection (see AdamWTests)
        Train(reference, 6, () => torchOptimizer.zero_grad(), PerTensorClip, () => AdamWTests.WithoutCollection(() => torchOptimizer.step()));
#pragma warning restore RS0030
        var expected = Weights(reference);

        using var ours = new Gpt(Config, 4);
        var before = Weights(ours);
        float[] actual;
        using (var flat = new FlatParameters(ours.parameters().ToArray(), p => p.dim() >= 2 ? 0 : 1, groupCount: 2))
        {
            using var optimizer = new AdamW([new AdamW.Group([flat.Groups[0]], 0.1), new AdamW.Group([flat.Groups[1]])], 3e-3, 0.9, 0.95);
            Train(ours, 6, flat.ZeroGrad, () => flat.ClipGradientNorm(maxNorm), optimizer.Step);
            actual = Weights(ours);
        }

        Assert.Equal(6, clipped);
        Assert.NotEqual(before, actual);
        Assert.Equal(expected, actual);
        Assert.Equal(actual, Weights(ours)); // disposing the buffer kept the trained values
    }

    [Fact]
    public void ParametersShareTheBufferAndGetTheirOwnStorageBack()
    {
        using var model = new Gpt(Config, 4);
        var parameters = model.parameters().ToArray();
        var before = Weights(model);
        var flat = new FlatParameters(parameters, p => p.dim() >= 2 ? 0 : 1, groupCount: 2);
        Assert.Equal(before, Weights(model)); // laying out copies the values
        Assert.Equal(parameters.Where(p => p.dim() >= 2).Sum(p => p.numel()), flat.Groups[0].numel());

        using var seven = 7.0f.ToScalar();
        using (no_grad()) flat.Groups[1].fill_(seven); // biases and gains are views of the second group
        Assert.All(parameters.Where(p => p.dim() < 2), p => Assert.True(p.eq(seven).all().item<bool>()));
        Assert.All(parameters.Where(p => p.dim() >= 2), p => Assert.False(p.eq(seven).any().item<bool>()));

        Assert.Contains(parameters, p => p.storage_offset() > 0); // slices of one storage

        flat.Dispose();
        Assert.All(parameters, p => Assert.Null(p.grad));
        Assert.All(parameters, p => Assert.Equal(0, p.storage_offset())); // each in its own storage again
        Assert.Equal(7.0f, parameters[^1].data<float>()[0]);
        Assert.Equal(before.Take(100), Weights(model).Take(100)); // the embedding, untouched
    }
}
