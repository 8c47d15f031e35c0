using Evolution.Core;
using Evolution.Core.Text;
using Evolution.Core.Worlds;

namespace Evolution.Cli.Bench;

/// <summary>What the benchmarks that answer questions run on: the default world, its tokenizer, and a seeded sample of its facts as queries.</summary>
public static class BenchWorld
{
    public static (World World, CompactTokenizer Tokenizer) Load()
    {
        var world = World.Generate(WorldSpec.Parse(ShippedFiles.Text(ShippedFiles.DefaultWorld), ShippedFiles.SourceName(ShippedFiles.DefaultWorld)));
        return (world, CompactTokenizer.Build(WorldTexts.All(world)));
    }

    /// <summary><paramref name="count"/> facts of epoch 0 (shuffled with seed 1), each as its first training-template query.</summary>
    public static IReadOnlyList<Query> Queries(World world, int count)
    {
        var random = new Random(1);
        return [.. world.FactsAt(0).OrderBy(_ => random.Next()).Take(count).Select(f => EvalSets.ForFact(world, f.Subject, f.Relation, 0, heldOut: false)[0])];
    }
}
