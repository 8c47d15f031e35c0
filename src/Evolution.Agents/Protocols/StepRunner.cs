namespace Evolution.Agents.Protocols;

/// <summary>Runs scenario steps in order. A resumed run replays every step: recorded answers are read back, updates re-applied (they are deterministic), so the agents' state and the events end up as in an uninterrupted run.</summary>
public static class StepRunner
{
    public static async Task Run(ProtocolContext context, IReadOnlyList<ProtocolStep> steps)
    {
        foreach (var step in steps)
        {
            await (step switch
            {
                QuizStep s => Quiz.Run(context, s),
                DebateStep s => Debate.Run(context, s),
                ConformityStep s => Conformity.Run(context, s),
                NewsStep s => News.Run(context, s),
                ConsolidateStep s => News.Consolidate(context, s),
                ConvergenceStep s => Convergence.Run(context, s),
                _ => throw new ArgumentException($"unknown step {step.GetType().Name}"),
            });
            await context.Finish(step);
        }
    }
}
