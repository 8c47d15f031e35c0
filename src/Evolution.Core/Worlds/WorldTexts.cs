using System.Globalization;

namespace Evolution.Core.Worlds;

/// <summary>
/// Every text the world can produce, in corpus or evaluation, at any epoch: the compact
/// tokenizer's vocabulary is built from these, so nothing an agent may read is out of vocabulary.
/// </summary>
public static class WorldTexts
{
    public static IEnumerable<string> All(World world)
    {
        for (int epoch = 0; epoch < world.Spec.Epochs; epoch++)
        {
            foreach (var fact in world.FactsAt(epoch))
                foreach (var template in RelationCatalogue.Get(fact.Relation).Templates)
                {
                    var sentence = template.Render(world[fact.Subject].Name, world[fact.Object].Name);
                    yield return sentence;
                    yield return "Context: " + sentence; // a template's first word after a space tokenises differently
                }
            foreach (var twoHop in RelationCatalogue.TwoHop)
                foreach (var subject in world.OfType(RelationCatalogue.Get(twoHop.First).SubjectType))
                    foreach (var template in twoHop.Templates)
                        yield return template.Render(subject.Name, world[world.ObjectOf(subject.Id, twoHop, epoch)].Name);
            // The wrappers (context lines) as the corpus writes them.
            foreach (var document in CorpusBuilder.Build(world, new DataMix { Epoch = epoch, BiographiesPerEntity = 1, QaPerFact = 1, ContextShare = 1 }, seed: epoch).Documents)
                yield return document;
        }
        foreach (var entity in world.Entities)
        {
            yield return entity.Name;
            yield return " " + entity.Name;
            foreach (var (attribute, value) in entity.Attributes)
                foreach (var template in RelationCatalogue.AttributeTemplates[attribute])
                    yield return template.Replace("{s}", entity.Name).Replace("{v}", value.ToString(CultureInfo.InvariantCulture));
        }
    }
}
