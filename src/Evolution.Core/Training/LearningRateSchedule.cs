namespace Evolution.Core.Training;

/// <summary>Linear warm-up to the peak, then cosine decay to <c>minRatio</c>·peak at the last step.</summary>
public static class LearningRateSchedule
{
    public static double At(int step, TrainingOptions o)
    {
        if (step < o.WarmupSteps) return o.LearningRate * (step + 1) / o.WarmupSteps;
        double progress = Math.Min(1.0, (double)(step - o.WarmupSteps) / Math.Max(1, o.MaxSteps - o.WarmupSteps));
        double cosine = 0.5 * (1 + Math.Cos(Math.PI * progress));
        return o.LearningRate * (o.MinLearningRateRatio + (1 - o.MinLearningRateRatio) * cosine);
    }
}
