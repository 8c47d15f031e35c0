using Evolution.Core;
using Evolution.Core.Worlds;

namespace Evolution.Updates;

/// <summary>Which facts an update experiment changes: the same list for the <c>edit</c> command and the <c>compare-updates</c> harness.</summary>
public static class WorldChanges
{
    /// <summary>
    /// N changes for an agent that knows the world at <paramref name="knowledgeEpoch"/>: the world's own
    /// changes at the next epoch first (its news), then seeded counterfactuals (random new objects for
    /// other facts, CounterFact-style) up to N. Deterministic in the world and N.
    /// </summary>
    public static List<FactChange> Select(World world, int knowledgeEpoch, int count)
    {
        var changes = world.Changes.Where(c => c.Epoch == knowledgeEpoch + 1).Take(count).ToList();
        var used = changes.Select(c => (c.Subject, c.Relation)).ToHashSet();
        var random = new Random(Seeds.Mix("counterfactuals", count));
        var facts = world.FactsAt(knowledgeEpoch).Where(f => !used.Contains((f.Subject, f.Relation))).ToArray();
        random.Shuffle(facts);
        foreach (var fact in facts.Take(count - changes.Count))
        {
            var options = world.CandidateEntities(RelationCatalogue.Get(fact.Relation).ObjectType).Where(e => e.Id != fact.Object).ToList();
            changes.Add(new FactChange(knowledgeEpoch + 1, fact.Subject, fact.Relation, fact.Object, options[random.Next(options.Count)].Id));
        }
        return changes;
    }
}
