using Evolution.Agents.Recording;

namespace Evolution.Agents.Protocols;

/// <summary>News propagation and consolidation: how new facts enter agents through their update policies.</summary>
public static class News
{
    /// <summary>Moves the world to the step's epoch and tells the learners what changed.</summary>
    public static async Task Run(ProtocolContext context, NewsStep step)
    {
        context.Epoch = step.Epoch;
        var changes = context.World.Changes.Where(c => c.Epoch == step.Epoch).Take(step.Changes ?? int.MaxValue)
            .Select(c => new FactRef(c.Subject, c.Relation)).ToList();
        var news = changes.Select(f => context.News(f, context.Truth(f))).ToList();
        await Task.WhenAll(step.Learners.Select(async agent =>
        {
            var request = new LearnNews($"{step.Index}/news/{agent}", news);
            var outcome = await context.Group.Learn(agent, request.Key, request.News);
            context.Sink.Record(UpdateEvent.Of(step.Index, step.Protocol, agent, request, outcome, changes.Select(f => f.ToString())));
        }));
        context.Report($"news: epoch {step.Epoch}, {changes.Count} changes to {string.Join(", ", step.Learners)}");
    }

    /// <summary>Each agent commits the final majority answer of the latest debate where its own final answer differs.</summary>
    public static async Task Consolidate(ProtocolContext context, ConsolidateStep step)
    {
        if (context.LastDebateStep < 0) throw new InvalidOperationException("consolidate needs a debate before it");
        // In a scaling sweep the largest group's debate is the one committed.
        var debated = context.Sink.AnswersOf(context.LastDebateStep);
        var largest = debated.GroupBy(e => e.Condition).OrderByDescending(g => g.Select(e => e.Agent).Distinct().Count()).First().ToList();
        var final = Debate.FinalRound(largest);
        var agents = context.Participants(step);
        await Task.WhenAll(agents.Select(async agent =>
        {
            var commits = final.Where(e => e.Agent == agent).Select(e =>
            {
                var fact = new FactRef(e.Subject, e.Relation);
                var consensus = Debate.Majority(final.Where(x => x.Subject == e.Subject && x.Relation == e.Relation).Select(x => x.Answer));
                return (fact, consensus, e.OwnAnswer);
            }).Where(c => c.consensus != c.OwnAnswer).ToList();
            var request = new LearnNews($"{step.Index}/consolidate/{agent}", [.. commits.Select(c => context.News(c.fact, c.consensus))]);
            var outcome = await context.Group.Learn(agent, request.Key, request.News);
            context.Sink.Record(UpdateEvent.Of(step.Index, step.Protocol, agent, request, outcome, commits.Select(c => c.fact.ToString())));
        }));
        context.Report("consolidate: agents committed the debate's consensus");
    }
}
