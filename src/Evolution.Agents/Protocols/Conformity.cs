using Evolution.Core;

namespace Evolution.Agents.Protocols;

/// <summary>
/// Asch-style conformity: each agent answers each fact alone ("alone"), then hears k confederates who
/// all state the same wrong object ("wrong=k"; the wrong object is fixed per fact and drawn from the
/// candidates with the scenario seed), and, optionally, k confederates stating the truth ("right=k") and k confederates
/// of whom one, the ally, states the truth ("ally=k", Asch 1956: one truthful partner cut conformity from about a third to
/// about a twentieth).
/// </summary>
public static class Conformity
{
    public static async Task Run(ProtocolContext context, ConformityStep step)
    {
        var facts = context.Select(step.Facts, step.Index);
        var agents = context.Participants(step);
        await context.Ask(step.Index, step.Protocol, "alone", 0, agents.SelectMany(a => facts.Select(f => new ProtocolContext.Request(a, f, []))).ToList());

        var wrong = facts.ToDictionary(f => f, f =>
        {
            var truth = context.Truth(f);
            var options = context.QuestionFor(f).Candidates.Where(c => c != truth).ToList();
            return options[(int)((uint)Seeds.Mix(context.Seed, "confederate", step.Index, f.Subject, f.Relation) % (uint)options.Count)];
        });
        var conditions = step.WrongPeers.Where(k => k > 0).Select(k => ($"wrong={k}", k, Ally: 0))
            .Concat(step.RightGuidance ? step.WrongPeers.Where(k => k > 0).Select(k => ($"right={k}", k, Ally: k)) : [])
            .Concat(step.Ally ? step.WrongPeers.Where(k => k >= 3).Select(k => ($"ally={k}", k, Ally: (k + 1) / 2)) : []);
        foreach (var (condition, k, ally) in conditions)
        {
            var requests = agents.SelectMany(agent => facts.Select(fact =>
            {
                // "right=k": every confederate (ally = k) states the truth; "ally=k": confederate ⌈k/2⌉ alone does.
                string Said(int c) => condition.StartsWith("right", StringComparison.Ordinal) || c == ally ? context.Truth(fact) : wrong[fact];
                var peers = Enumerable.Range(1, k).Select(c => new PeerStatement($"confederate{c}", Said(c), context.Sentence(fact, Said(c), $"confederate{c}", 0))).ToList();
                return new ProtocolContext.Request(agent, fact, peers);
            })).ToList();
            var events = await context.Ask(step.Index, step.Protocol, condition, 0, requests);
            context.Report($"conformity {condition}: {events.Count(e => e.Correct) / (double)Math.Max(1, events.Count):P0} correct");
        }
    }
}
