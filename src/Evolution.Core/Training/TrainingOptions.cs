namespace Evolution.Core.Training;

/// <summary>
/// Pre-training hyper-parameters. Defaults suit 1–2M-parameter agents on a synthetic world
/// (nanoGPT's small-model settings: AdamW β=(0.9, 0.98), weight decay 0.1 on matrices only,
/// linear warm-up then cosine decay to 10% of the peak rate).
/// </summary>
public sealed record TrainingOptions
{
    /// <summary>Seeds weight initialisation and data order; same seed, same weights.</summary>
    public int Seed { get; init; } = 1;
    /// <summary>Sequences of <c>ContextLength</c> tokens per optimisation step (16 keeps a step's activations in cache on small CPUs).</summary>
    public int BatchSize { get; init; } = 16;
    /// <summary>Step budget; training may stop earlier at <see cref="TargetHit1"/>.</summary>
    public int MaxSteps { get; init; } = 3000;
    public double LearningRate { get; init; } = 2e-3;
    public double MinLearningRateRatio { get; init; } = 0.1;
    public int WarmupSteps { get; init; } = 100;
    public double WeightDecay { get; init; } = 0.1;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.98;
    public double GradientClip { get; init; } = 1.0;
    /// <summary>Steps between live-accuracy checks (0 = never).</summary>
    public int EvalEvery { get; init; } = 250;
    /// <summary>Stop once live Hit@1 reaches this (null = run the whole budget).</summary>
    public double? TargetHit1 { get; init; } = null;

    public void Validate(string source)
    {
        void Require(bool ok, string field, string problem) => InputException.Require(ok, source, field, problem);
        Require(BatchSize > 0, "training.batch_size", $"must be positive, got {BatchSize}");
        Require(MaxSteps > 0, "training.steps", $"must be positive, got {MaxSteps}");
        Require(LearningRate > 0, "training.learning_rate", $"must be positive, got {LearningRate}");
        Require(WarmupSteps >= 0, "training.warmup_steps", $"must not be negative, got {WarmupSteps}");
        Require(MinLearningRateRatio is >= 0 and <= 1, "training.min_learning_rate_ratio", "must be in [0, 1]");
        Require(TargetHit1 is null or (> 0 and <= 1), "training.target_hit1", "must be in (0, 1]");
    }
}
