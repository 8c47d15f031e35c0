namespace Evolution.Agents.Protocols;

/// <summary>Quiz: every agent answers every selected question on its own (round 0, no peers).</summary>
public static class Quiz
{
    public static async Task Run(ProtocolContext context, QuizStep step)
    {
        var facts = context.Select(step.Facts, step.Index);
        var requests = context.Participants(step).SelectMany(a => facts.Select(f => new ProtocolContext.Request(a, f, []))).ToList();
        await context.Ask(step.Index, step.Protocol, "", 0, requests);
        context.Report($"quiz: {context.Participants(step).Count} agents × {facts.Count} facts");
    }
}
