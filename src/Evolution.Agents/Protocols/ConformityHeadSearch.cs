using Evolution.Agents.Recording;
using Evolution.Core;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;

namespace Evolution.Agents.Protocols;

/// <summary>
/// An agent's conformity heads at this point of a run: it answers the facts alone (condition "auto@" and the label, kept
/// out of the step's plain metrics), and on those it answers right its heads are ranked by EAP-IG on "the confederates' answer vs
/// its own answer, the confederates present" (<see cref="ConformityCircuits"/>; corrupted: the confederates stating its own answer).
/// The ranking is recorded as a trace event of the given kind.
/// </summary>
public static class ConformityHeadSearch
{
    /// <param name="peers">Confederates in each contrast.</param>
    /// <returns>The heads, strongest towards the wrong majority first; null when the agent answers none of the facts right alone.</returns>
    public static async Task<IReadOnlyList<HeadEffect>?> Find(ProtocolContext context, ProtocolStep step, string agent, IReadOnlyList<FactRef> facts, int peers, string label, string kind)
    {
        var alone = await context.Ask(step.Index, step.Protocol, $"auto@{label}", 0, [.. facts.Select(f => new ProtocolContext.Request(agent, f, []))]);
        // Facts the agent answers right alone (those whose adoption a conformity step measures), each with up to three wrong answers:
        // the clean and corrupted prompts must have the same length in tokens, which only the agent's tokenizer can tell.
        var probes = new List<ConformityProbe>();
        foreach (var (fact, answer) in facts.Zip(alone).Where(x => x.Second.Correct))
        {
            var question = context.QuestionFor(fact);
            var own = answer.Answer;
            foreach (var wrong in ConformityCircuits.WrongAnswers(question.Candidates, own, new Random(Seeds.Mix(context.Seed, "auto-wrong", label, fact.Subject, fact.Relation))))
                probes.Add(new ConformityProbe(question, Sentences(context, fact, wrong, peers), Sentences(context, fact, own, peers), own, wrong));
        }
        if (probes.Count == 0) return null;
        string id = $"{step.Index}/{kind}/{label}/{agent}";
        var found = await context.Group.ConformityHeads(agent, id, probes);
        context.Sink.Record(new TraceEvent
        {
            Id = id, Step = step.Index, Kind = kind, AgentA = agent, Fact = label,
            Layer = found.Used, Heads = [.. found.Heads.Select(h => h.Name)], HeadScores = [.. found.Heads.Select(h => Math.Round(h.Score, 6))],
        });
        return found.Heads;
    }

    static List<string> Sentences(ProtocolContext context, FactRef fact, string answer, int count) =>
        [.. Enumerable.Range(1, count).Select(c => context.Sentence(fact, answer, $"confederate{c}", 0))];
}
