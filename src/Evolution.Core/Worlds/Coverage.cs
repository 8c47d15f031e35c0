namespace Evolution.Core.Worlds;

/// <summary>
/// Which subjects an agent knows about, and which people carry two-hop training lines. Both are
/// seeded by the world's seed (not the agent's), so agents with the same coverage share the same
/// split and the two-hop eval set never overlaps two-hop training lines.
/// </summary>
public static class Coverage
{
    public static HashSet<int> Subjects(World world, DataMix mix)
    {
        var random = new Random(Seeds.Mix(world.Spec.Seed, "coverage"));
        var covered = new HashSet<int>();
        foreach (var type in WorldSpec.EntityTypes)
        {
            var ids = world.OfType(type).Select(e => e.Id).ToArray();
            random.Shuffle(ids);
            covered.UnionWith(ids.Take((int)Math.Round(mix.Coverage * ids.Length)));
        }
        return covered;
    }

    /// <summary>Subjects of <paramref name="twoHop"/> whose composed fact is taught (the others are evaluated).</summary>
    public static HashSet<int> TwoHopTraining(World world, DataMix mix, TwoHopRelation twoHop)
    {
        int index = RelationCatalogue.TwoHop.ToList().IndexOf(twoHop);
        var random = new Random(Seeds.Mix(world.Spec.Seed, "two-hop", index));
        var subjectType = RelationCatalogue.Get(twoHop.First).SubjectType;
        var ids = world.OfType(subjectType).Select(e => e.Id).ToArray();
        random.Shuffle(ids);
        return ids.Take((int)Math.Round(mix.TwoHopShare * ids.Length)).ToHashSet();
    }
}
