using System.Text.Json;
using Evolution.Core.Worlds;
using Microsoft.ML.Tokenizers;

namespace Evolution.Core.Tests.Worlds;

public class WorldGenerationTests
{
    static string Fingerprint(World world, DataMix mix, int seed) => JsonSerializer.Serialize(new
    {
        entities = world.Entities.Select(e => new { e.Name, e.Type, e.Attributes }),
        facts = Enumerable.Range(0, world.Spec.Epochs).Select(world.FactsAt),
        world.Changes,
        corpus = CorpusBuilder.Build(world, mix, seed).Documents,
        eval = EvalSets.TrainQueries(world, mix).Concat(EvalSets.ParaphraseQueries(world, mix)).Concat(EvalSets.TwoHopQueries(world, mix))
            .Select(q => q.Prompt + "|" + q.Answer),
    });

    [Fact]
    public void SameSpecGivesTheSameWorldAndADifferentSeedDoesNot()
    {
        var spec = WorldSpec.Load(TestWorlds.Spec("tiny"));
        var mix = new DataMix { ContextShare = 1, MisinformationShare = 0.2 };
        var first = Fingerprint(World.Generate(spec), mix, 5);
        Assert.Equal(first, Fingerprint(World.Generate(spec), mix, 5));
        Assert.NotEqual(first, Fingerprint(World.Generate(spec with { Seed = spec.Seed + 1 }), mix, 5));
    }

    [Fact]
    public void DefaultWorldHasTheAdvertisedSize()
    {
        var world = World.Generate(WorldSpec.Load(TestWorlds.Spec("default")));
        Assert.True(world.FactsAt(0).Count >= 300, $"{world.FactsAt(0).Count} facts");
        Assert.True(world.Relations.Count >= 10);
        Assert.True(world.Entities.Select(e => e.Type).Distinct().Count() >= 5);
        Assert.All(world.Relations, r => Assert.True(world.HeldOutTemplates(r).Count == 2 && world.TrainingTemplates(r).Count(t => t.IsQuery) >= 6));
        Assert.NotEmpty(world.Changes);
    }

    [Fact]
    public void NamesAreUniqueMultiTokenAndNeverAWordPrefixOfAnother()
    {
        var world = World.Generate(WorldSpec.Load(TestWorlds.Spec("default")));
        var cl100k = TiktokenTokenizer.CreateForEncoding("cl100k_base");
        var names = world.Entities.Select(e => e.Name).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        Assert.All(names, n => Assert.True(cl100k.EncodeToIds(" " + n).Count >= 2, $"'{n}' is a single token"));
        foreach (var a in names)
            foreach (var b in names)
                Assert.False(a != b && b.StartsWith(a + " ", StringComparison.Ordinal), $"'{a}' is a prefix of '{b}'");
    }

    [Fact]
    public void StructureIsConsistent()
    {
        var world = World.Generate(WorldSpec.Load(TestWorlds.Spec("default")));
        foreach (var country in world.OfType("country"))
        {
            int capital = world.ObjectOf(country.Id, "capital", 0);
            Assert.Equal(country.Id, world.ObjectOf(capital, "located_in", 0)); // a capital lies in its own country
        }
        foreach (var fact in world.FactsAt(0))
        {
            var relation = RelationCatalogue.Get(fact.Relation);
            Assert.Equal(relation.SubjectType, world[fact.Subject].Type);
            Assert.Equal(relation.ObjectType, world[fact.Object].Type);
        }
    }

    [Fact]
    public void NextEpochDiffersExactlyByTheDeclaredChanges()
    {
        var world = World.Generate(WorldSpec.Load(TestWorlds.Spec("default")));
        var before = world.FactsAt(0).ToDictionary(f => (f.Subject, f.Relation), f => f.Object);
        var after = world.FactsAt(1).ToDictionary(f => (f.Subject, f.Relation), f => f.Object);
        var changed = before.Keys.Where(k => before[k] != after[k]).ToHashSet();
        Assert.Equal(changed, world.Changes.Select(c => (c.Subject, c.Relation)).ToHashSet());
        Assert.All(world.Changes, c =>
        {
            Assert.Equal(before[(c.Subject, c.Relation)], c.OldObject);
            Assert.Equal(after[(c.Subject, c.Relation)], c.NewObject);
            Assert.NotEqual(c.OldObject, c.NewObject);
        });
        // the spec asked for 20 works_for changes
        Assert.Equal(20, world.Changes.Count(c => c.Relation == "works_for"));
    }

    [Fact]
    public void ExplicitChangesUseEntityNames()
    {
        var tiny = TestWorlds.Tiny();
        var person = tiny.OfType("person")[0];
        var company = tiny.OfType("company").First(c => c.Id != tiny.ObjectOf(person.Id, "works_for", 0));
        var spec = WorldSpec.Parse($"""
            name: explicit
            seed: 3
            entities: {"{"}country: 3, city: 6, person: 8, company: 3, university: 2{"}"}
            epochs: 2
            changes:
              - {"{"}epoch: 1, relation: works_for, subject: "{person.Name}", object: "{company.Name}"{"}"}
            """, "explicit.yaml");
        var world = World.Generate(spec);
        Assert.Equal(company.Id, world.ObjectOf(person.Id, "works_for", 1));
        Assert.Single(world.Changes);
    }
}
