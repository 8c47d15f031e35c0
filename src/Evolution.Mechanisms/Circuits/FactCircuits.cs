using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;

namespace Evolution.Mechanisms.Circuits;

/// <summary>Circuits of a world's facts: the prompt, its corruption and candidates, and the EAP-IG circuit per fact.</summary>
public static class FactCircuits
{
    /// <summary>One fact as a circuit example: symmetric replacement by another subject of the same type and token length, or Gaussian noise.</summary>
    /// <param name="acceptPartner">Optional: whether a replacement subject (its id and the first token of its own answer)
    /// may be used; e.g. an edit's circuits need a partner whose answer is neither the old nor the new object and whose
    /// fact no edit touches, so one corruption serves the circuit before and after the edit.</param>
    public static CircuitExample? Example(ITextTokenizer tokenizer, World world, Fact fact, string corruption, int epoch, Func<int, int, bool>? acceptPartner = null)
    {
        var relation = RelationCatalogue.Get(fact.Relation);
        var subject = world[fact.Subject];
        var template = world.CanonicalStatement(relation);
        var prompt = FactPrompt.Build(tokenizer, template.Prompt(subject.Name), subject.Name, world[fact.Object].Name);
        var candidates = world.CandidateAnswers(relation.ObjectType).Select(a => tokenizer.Encode(a)[0]).Distinct().ToArray();
        var others = candidates.Where(c => c != prompt.TargetToken).ToArray();
        if (corruption == "gaussian") return new CircuitExample(prompt, null, others, candidates);
        // Prefer a replacement whose own answer differs at the first token: the metric is then target − that answer (Hanna et al.).
        (int[] Tokens, int Answer)? fallback = null;
        foreach (var other in world.OfType(subject.Type).Where(e => e.Id != subject.Id))
        {
            var replaced = FactPrompt.Build(tokenizer, prompt.Text.Replace(subject.Name, other.Name), other.Name, prompt.Target);
            if (replaced.Tokens.Length != prompt.Tokens.Length || replaced.SubjectStart != prompt.SubjectStart || replaced.SubjectEnd != prompt.SubjectEnd) continue;
            int answer = tokenizer.Encode(" " + world[world.ObjectOf(other.Id, relation.Name, epoch)].Name)[0];
            if (acceptPartner is not null && !acceptPartner(other.Id, answer)) continue;
            if (answer != prompt.TargetToken) return new CircuitExample(prompt, replaced.Tokens, [answer], candidates);
            fallback ??= (replaced.Tokens, answer);
        }
        return fallback is { } f ? new CircuitExample(prompt, f.Tokens, others, candidates) : null;
    }

    /// <summary>
    /// Each fact's EAP-IG circuit (token-swap corruption, greedy selection of <paramref name="edgeFraction"/> of the
    /// edges) for the object the world gives it at <paramref name="epoch"/>; null for a fact without a corruption
    /// partner. Used to compare how different agents carry the same fact (circuit similarity).
    /// </summary>
    public static IReadOnlyList<Circuit?> For(Gpt model, ITextTokenizer tokenizer, World world, IReadOnlyList<Fact> facts, int epoch,
        double edgeFraction, CircuitOptions? options = null)
    {
        options ??= new CircuitOptions();
        var graph = ComputationGraph.For(model);
        var examples = facts.Select(f => Example(tokenizer, world, f, "str", epoch)).ToList();
        var present = examples.OfType<CircuitExample>().ToList();
        var scores = EapIg.Scores(model, present, options);
        int next = 0;
        return examples.Select(e => e is null ? null : Circuit.Greedy(graph, scores[next++], edgeFraction)).ToList();
    }
}
