using System.Text;
using System.Text.Json;

namespace Evolution.Core.Worlds;

/// <summary>Writes a world and one agent's view of it as JSONL files (each written atomically).</summary>
public static class WorldExport
{
    public static IReadOnlyDictionary<string, int> Write(World world, DataMix mix, int corpusSeed, string outDir)
    {
        Directory.CreateDirectory(outDir);
        var counts = new Dictionary<string, int>();
        void Lines<T>(string file, IEnumerable<T> rows)
        {
            var text = new StringBuilder();
            int n = 0;
            foreach (var row in rows)
            {
                text.Append(JsonSerializer.Serialize(row)).Append('\n');
                n++;
            }
            AtomicFile.WriteAllText(Path.Combine(outDir, file), text.ToString());
            counts[file] = n;
        }
        string Name(int id) => world[id].Name;

        Lines("entities.jsonl", world.Entities.Select(e => new { id = e.Id, type = e.Type, name = e.Name, attributes = e.Attributes }));
        Lines("facts.jsonl", Enumerable.Range(0, world.Spec.Epochs).SelectMany(epoch => world.FactsAt(epoch).Select(f =>
            new { epoch, subject = Name(f.Subject), relation = f.Relation, @object = Name(f.Object) })));
        Lines("changes.jsonl", world.Changes.Select(c => new { epoch = c.Epoch, subject = Name(c.Subject), relation = c.Relation, old_object = Name(c.OldObject), new_object = Name(c.NewObject) }));
        var corpus = CorpusBuilder.Build(world, mix, corpusSeed);
        Lines("corpus.jsonl", corpus.Documents.Select(text => new { text }));
        Lines("misinformation.jsonl", corpus.Misinformation.Select(f => new { subject = Name(f.Subject), relation = f.Relation, taught_object = Name(f.Object) }));
        var queries = EvalSets.TrainQueries(world, mix).Concat(EvalSets.ParaphraseQueries(world, mix)).Concat(EvalSets.TwoHopQueries(world, mix));
        Lines("eval.jsonl", queries.Select(q => new { set = q.Set, subject = Name(q.Subject), relation = q.Relation, prompt = q.Prompt, answer = q.Answer, candidates = q.Candidates.Count }));
        return counts;
    }
}
