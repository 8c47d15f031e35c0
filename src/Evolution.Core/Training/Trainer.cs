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
/// <c>ContextLength + 1</c> windows (packing, as GPT-2 pre-training does). The documents may differ
/// from pass to pass (<see cref="TrainOnPasses"/>: fresh augmentations of the same facts).
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
        var tokens = documents.Select(tokenizer.Encode).ToList();
        return TrainOnPasses(_ => tokens, tokenizer.EndOfText, liveHit1, progress, cancel);
    }

    /// <summary>Trains on already tokenised documents, each preceded by <paramref name="separator"/>.</summary>
    public TrainingResult TrainOnTokens(IReadOnlyList<int[]> documents, int separator, Func<double>? liveHit1 = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default) =>
        TrainOnPasses(_ => documents, separator, liveHit1, progress, cancel);

    /// <summary>
    /// Trains on tokenised documents that may change from pass to pass: <paramref name="documentsOfPass"/> is asked once
    /// for pass 0, 1, … as each pass begins.
    /// </summary>
    public TrainingResult TrainOnPasses(Func<int, IReadOnlyList<int[]>> documentsOfPass, int separator, Func<double>? liveHit1 = null,
        IProgress<TrainingProgress>? progress = null, CancellationToken cancel = default)
    {
        var windows = new WindowStream(documentsOfPass, separator, model.Config.ContextLength + 1, new Random(options.Seed));
        var device = model.Unembedding.device;

        using var flat = FlattenParameters();
        using var optimizer = new AdamW([new AdamW.Group([flat.Groups[0]], options.WeightDecay), new AdamW.Group([flat.Groups[1]])],
            options.LearningRate, options.Beta1, options.Beta2);
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
                flat.ZeroGrad();
                lossTensor.backward();
                flat.ClipGradientNorm(options.GradientClip);
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
    /// The parameters in one buffer, matrices first (decayed by AdamW) then biases and LayerNorm
    /// gains (not decayed), so each optimizer group is a single tensor.
    /// </summary>
    FlatParameters FlattenParameters() =>
        new(model.parameters().ToArray(), p => p.dim() >= 2 ? 0 : 1, groupCount: 2);

    /// <summary>Endless stream of packed windows over shuffled documents, pass after pass.</summary>
    sealed class WindowStream(Func<int, IReadOnlyList<int[]>> documentsOfPass, int separator, int window, Random random)
    {
        readonly List<long> pending = new();
        IReadOnlyList<int[]> documents = [];
        int[] order = [];
        int nextDocument, pass;

        public long[] Next()
        {
            while (pending.Count < window)
            {
                if (nextDocument >= order.Length)
                {
                    documents = documentsOfPass(pass++);
                    if (documents.Count == 0) throw new ArgumentException($"no training documents in pass {pass - 1}");
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
