using Evolution.Agents.Protocols;
using Evolution.Agents.Recording;
using Evolution.Core.Worlds;

namespace Evolution.Scenarios;

/// <summary>
/// How one agent knows the world at one epoch, from its quiz answers at that epoch (every quiz step at the epoch pooled).
/// <see cref="CurrentAccuracy"/>: of the answers about facts changed at or before the epoch, the share giving the fact's
/// object now; <see cref="StaleShare"/>: the share giving an object the fact had at an earlier epoch instead (the rest
/// are other wrong answers); <see cref="UnchangedAccuracy"/>: accuracy on facts that change at no epoch of the world, the
/// same facts at every epoch, so its curve shows what updates cost the rest of the agent's knowledge. Null where the
/// quizzes asked no such fact (at epoch 0 nothing has changed yet).
/// </summary>
public sealed record EpochMetrics(int Epoch, string Agent, string Channel, int ChangedAnswers, double? CurrentAccuracy, double? StaleShare,
    int UnchangedAnswers, double? UnchangedAccuracy);

/// <summary>Per agent (its update channel) and epoch: accuracy on current facts, stale answers, accuracy on facts that never changed.</summary>
public static class LifelongMetrics
{
    /// <summary>One row per epoch and agent that answered a quiz there; null for a scenario without news (one epoch).</summary>
    public static IReadOnlyList<EpochMetrics>? Compute(IReadOnlyList<AnswerEvent> answers, Scenario scenario)
    {
        if (!scenario.Steps.Any(s => s is NewsStep)) return null;
        var world = World.Generate(scenario.WorldSpec);
        var changesOf = world.Changes.ToLookup(c => (c.Subject, c.Relation));
        var quizzes = scenario.Steps.OfType<QuizStep>().Select(s => s.Index).ToHashSet();
        var agents = scenario.Agents.Select(a => a.Name).ToList();
        var channel = scenario.Agents.ToDictionary(a => a.Name, a => Core.Agents.UpdatePolicy.NameOf(a.Profile.Update.Channel));

        return answers.Where(a => quizzes.Contains(a.Step)).GroupBy(a => (a.Epoch, a.Agent))
            .OrderBy(g => g.Key.Epoch).ThenBy(g => agents.IndexOf(g.Key.Agent))
            .Select(g =>
            {
                // A fact's earlier objects, up to this epoch: the old object of each of its changes so far. A fact changed
                // back to an earlier object is answered right, not stale, with it. (Answers are compared without their
                // leading space: the run database trims it.)
                var changed = g.Select(a => (Answer: a, Earlier: changesOf[(a.Subject, a.Relation)].Where(c => c.Epoch <= a.Epoch)
                    .Select(c => world[c.OldObject].Name).ToHashSet())).Where(x => x.Earlier.Count > 0).ToList();
                var unchanged = g.Where(a => !changesOf.Contains((a.Subject, a.Relation))).ToList();
                double? Share(int count, int of) => of == 0 ? null : RunMetrics.R(count / (double)of);
                return new EpochMetrics(g.Key.Epoch, g.Key.Agent, channel[g.Key.Agent],
                    changed.Count, Share(changed.Count(x => x.Answer.Correct), changed.Count),
                    Share(changed.Count(x => !x.Answer.Correct && x.Earlier.Contains(x.Answer.Answer.TrimStart())), changed.Count),
                    unchanged.Count, Share(unchanged.Count(a => a.Correct), unchanged.Count));
            }).ToList();
    }
}
