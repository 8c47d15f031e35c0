using System.Text.Json;
using Evolution.Core.Worlds;
using Evolution.Core.Text;
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
    public void EachEpochsNewsIsExactlyWhatChangedSinceThePreviousEpoch()
    {
        var world = World.Generate(WorldSpec.Load(TestWorlds.Spec("default")));
        Assert.True(world.Spec.Epochs >= 5, "the default world has news at epochs 1 to 4 at least");
        for (int epoch = 1; epoch < world.Spec.Epochs; epoch++)
        {
            var before = world.FactsAt(epoch - 1).ToDictionary(f => (f.Subject, f.Relation), f => f.Object);
            var after = world.FactsAt(epoch).ToDictionary(f => (f.Subject, f.Relation), f => f.Object);
            var news = world.Changes.Where(c => c.Epoch == epoch).ToList();
            Assert.NotEmpty(news);
            Assert.Equal(before.Keys.Where(k => before[k] != after[k]).ToHashSet(), news.Select(c => (c.Subject, c.Relation)).ToHashSet());
            Assert.Equal(news.Count, news.Select(c => (c.Subject, c.Relation)).Distinct().Count());
            Assert.All(news, c =>
            {
                Assert.Equal(before[(c.Subject, c.Relation)], c.OldObject);
                Assert.Equal(after[(c.Subject, c.Relation)], c.NewObject);
                Assert.NotEqual(c.OldObject, c.NewObject);
            });
        }
        // the spec asked for 20 works_for changes at epoch 1
        Assert.Equal(20, world.Changes.Count(c => c.Epoch == 1 && c.Relation == "works_for"));
        // some facts change again at a later epoch: their earlier objects are what a stale answer gives
        Assert.Contains(world.Changes.GroupBy(c => (c.Subject, c.Relation)), g => g.Select(c => c.Epoch).Distinct().Count() >= 2);
    }

    /// <summary>
    /// Epochs are drawn one after another from the seed, so the shipped worlds' later epochs leave the world at epoch 0,
    /// the news of epoch 1, the corpus and the vocabulary as they were with two epochs (and the agents trained on them).
    /// </summary>
    [Theory]
    [InlineData("default")]
    [InlineData("small")]
    [InlineData("tiny")]
    public void LaterEpochsLeaveEpochZeroAndTheNewsOfEpochOneAsTheyWere(string name)
    {
        var spec = WorldSpec.Load(TestWorlds.Spec(name));
        Assert.True(spec.Epochs >= 4, $"{name} has {spec.Epochs} epochs");
        var shipped = World.Generate(spec);
        var twoEpochs = World.Generate(spec with { Epochs = 2, Changes = spec.Changes.Where(c => c.Epoch == 1).ToList() });
        var mix = new DataMix { ContextShare = 1, ContextDistractors = 2, ContextHardDistractorShare = 0.5, PeerLinesPerFact = 1, MisinformationShare = 0.1 };
        string Early(World world) => JsonSerializer.Serialize(new
        {
            entities = world.Entities.Select(e => new { e.Name, e.Type, e.Attributes }),
            epoch0 = world.FactsAt(0),
            epoch1 = world.FactsAt(1),
            news1 = world.Changes.Where(c => c.Epoch == 1),
            heldOut = world.Relations.Select(r => world.HeldOutTemplates(r).Select(t => t.Text)),
            corpus = CorpusBuilder.Build(world, mix, seed: 2).Documents,
        });
        Assert.Equal(Early(twoEpochs), Early(shipped));
        // The vocabulary is built from every epoch's texts, so it could only grow; the same size means the same tokens.
        Assert.Equal(CompactTokenizer.Build(WorldTexts.All(twoEpochs)).VocabSize, CompactTokenizer.Build(WorldTexts.All(shipped)).VocabSize);
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
