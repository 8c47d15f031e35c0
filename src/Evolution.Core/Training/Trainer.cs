using System.Diagnostics;
using Evolution.Core.Model;
using Evolution.Core.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core.Training;

public sealed record TrainingProgress(int Step, int MaxSteps, double Loss, double LearningRate, double TokensPerSecond, double? LiveHit1);

public sealed record TrainingResult(int Steps, double FinalLoss, double? FinalLiveHit1, long Tokens, double Seconds)
{
    public double TokensPerSecond => Tokens / Math.Max(Seconds, 1e-9);
}

/// <summary>
/// Next-token pre-training on a list of documents. Each document is &lt;|endoftext|&gt; followed by
/// its tokens; documents are shuffled (seeded) every pass, concatenated and cut into
/// <c>ContextLength + 1</c> windows (packing, as GPT-2 pre-training does).
/// </summary>
public sealed class Trainer
{
    readonly Gpt model;
    readonly TrainingOptions options;

    public Trainer(Gpt model, TrainingOptions options)
    {
        options.Validate("training options");
        this.model = model;
        this.options = options;
    }

    /// <param name="liveHit1">Measures Hit@1 on a fixed sample, for the progress display and the early stop.</param>
    public TrainingResult Train(ITextTokenizer tokenizer, IReadOnlyList<string> documents, Func<double>? liveHit1 = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        if (documents.Count == 0) throw new ArgumentException("no training documents");
        return TrainOnTokens(documents.Select(tokenizer.Encode).ToList(), tokenizer.EndOfText, liveHit1, progress, cancel);
    }

    /// <summary>Trains on already tokenised documents, each preceded by <paramref name="separator"/>.</summary>
    public TrainingResult TrainOnTokens(IReadOnlyList<int[]> documents, int separator, Func<double>? liveHit1 = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        var windows = new WindowStream(documents, separator, model.Config.ContextLength + 1, new Random(options.Seed));
        var device = model.Unembedding.device;

        using var optimizer = CreateOptimizer();
        var parameters = model.parameters().ToArray();
        model.train();
        var clock = Stopwatch.StartNew();
        long tokens = 0;
        double loss = double.NaN;
        double? hit1 = null;
        int step = 0;
        int window = model.Config.ContextLength + 1;
        var buffer = new long[options.BatchSize * window];
        for (; step < options.MaxSteps && !cancel.IsCancellationRequested; step++)
        {
            double lr = LearningRateSchedule.At(step, options);
            optimizer.LearningRate = lr;

            using (var scope = NewDisposeScope())
            {
                for (int b = 0; b < options.BatchSize; b++) windows.Next().CopyTo(buffer, b * window);
                var batch = tensor(buffer, [options.BatchSize, window], device: device);
                var input = batch.narrow(1, 0, window - 1);
                var target = batch.narrow(1, 1, window - 1);
                var logits = model.forward(input);
                var lossTensor = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[^1]), target.reshape(-1));
                optimizer.ZeroGrad();
                lossTensor.backward();
                ClipGradientNorm(parameters, options.GradientClip);
                optimizer.Step();
                if (step % 10 == 0 || step == options.MaxSteps - 1) loss = lossTensor.item<float>();
            }
            tokens += (long)options.BatchSize * (window - 1);

            bool evalNow = liveHit1 is not null && options.EvalEvery > 0 && (step + 1) % options.EvalEvery == 0;
            if (evalNow)
            {
                hit1 = liveHit1!();
                model.train();
            }
            if (evalNow || step % 10 == 0)
                progress?.Report(new TrainingProgress(step + 1, options.MaxSteps, loss, lr, tokens / clock.Elapsed.TotalSeconds, hit1));
            if (evalNow && options.TargetHit1 is { } goal && hit1 >= goal) { step++; break; }
        }
        model.eval();
        return new TrainingResult(step, loss, hit1, tokens, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Scales gradients so their global L2 norm is at most <paramref name="maxNorm"/>. Same rule as
    /// torch's clip_grad_norm_, computed with tensor ops only (no host round trip), which measured
    /// about 10% faster per step here than TorchSharp's version.
    /// </summary>
    static void ClipGradientNorm(IReadOnlyList<TorchSharp.Modules.Parameter> parameters, double maxNorm)
    {
        using var _ = no_grad();
        var grads = parameters.Where(p => p.grad is not null).Select(p => p.grad!).ToArray();
        // Explicit Scalars, kept alive until the ops that read them are done (see AdamW for why).
        using var epsilon = 1e-6.ToScalar();
        using var one = 1.0.ToScalar();
        using var bound = maxNorm.ToScalar();
        using var total = stack(grads.Select(g => g.norm()).ToArray()).norm();
        using var scale = total.add(epsilon, one).reciprocal_().mul_(bound).clamp_max_(one);
        foreach (var g in grads) g.mul_(scale);
    }

    /// <summary>AdamW with decoupled weight decay on matrices only (not on biases and LayerNorm gains).</summary>
    AdamW CreateOptimizer()
    {
        var decay = new List<TorchSharp.Modules.Parameter>();
        var noDecay = new List<TorchSharp.Modules.Parameter>();
        foreach (var (_, p) in model.named_parameters())
            (p.dim() >= 2 ? decay : noDecay).Add(p);
        return new AdamW([new AdamW.Group(decay, options.WeightDecay), new AdamW.Group(noDecay)], options.LearningRate, options.Beta1, options.Beta2);
    }

    /// <summary>Endless stream of packed windows over shuffled documents.</summary>
    sealed class WindowStream(IReadOnlyList<int[]> documents, int separator, int window, Random random)
    {
        readonly List<long> pending = new();
        int[] order = [];
        int nextDocument;

        public long[] Next()
        {
            while (pending.Count < window)
            {
                if (nextDocument >= order.Length)
                {
                    order = Enumerable.Range(0, documents.Count).ToArray();
                    random.Shuffle(order);
                    nextDocument = 0;
                }
                pending.Add(separator);
                foreach (var id in documents[order[nextDocument++]]) pending.Add(id);
            }
            var result = pending.GetRange(0, window).ToArray();
            // Consecutive windows overlap by one token so every token is a target exactly once.
            pending.RemoveRange(0, window - 1);
            return result;
        }
    }
}
