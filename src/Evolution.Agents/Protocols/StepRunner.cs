namespace Evolution.Agents.Protocols;

/// <summary>Runs scenario steps in order. A resumed run replays every step: recorded answers are read back, updates re-applied (they are deterministic), so the agents' state and the events end up as in an uninterrupted run.</summary>
public static class StepRunner
{
    public static async Task Run(ProtocolContext context, IReadOnlyList<ProtocolStep> steps)
    {
        foreach (var step in steps)
        {
            // A conformity step runs its interventions beside its plain conditions (the causal check); other steps answer under them.
            if (step is not ConformityStep && step.Interventions.Count > 0)
            {
                var facts = step switch { QuizStep q => context.Select(q.Facts, q.Index), DebateStep d => context.Select(d.Facts, d.Index), _ => [] };
                context.Interventions = await StepInterventions.ForAgents(context, step, context.Participants(step), facts.ToHashSet());
            }
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
            context.Interventions = new Dictionary<string, Mechanisms.Intervention>();
            await context.Finish(step);
        }
    }
}
