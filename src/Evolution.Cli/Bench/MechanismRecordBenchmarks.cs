using Evolution.Agents;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Spectre.Console;

namespace Evolution.Cli.Bench;

/// <summary>
/// What the per-answer mechanism record (<see cref="Mechanisms.PeerPressure"/>, on by default for every answer read with
/// peers who said otherwise) adds to the cost of answering: an agent of each shape, on the default world (weights untrained,
/// which does not change the cost), answers a batch of questions with three confederates stating the same wrong candidate,
/// once with the record and once without, as a conformity step asks them (all the relation's candidates, the agent reading
/// its peers). No retrieval memory: prompts are the peers' statements and the question.
/// </summary>
public static class MechanismRecordBenchmarks
{
    public sealed record RecordCost(string Model, int Answers, int Candidates, double AnswerMs, double AnswerWithRecordMs, double RecordOverAnswer);

    public static IReadOnlyList<RecordCost> Measure(bool quick, int answers = 32)
    {
        var (world, tokenizer) = BenchWorld.Load();
        var shapes = new (string Name, ModelShape Shape)[]
        {
            ("L4-D128", new ModelShape()),
            ("L2-D64", new ModelShape { Layers = 2, DModel = 64, Heads = 2 }),
        };
        return shapes.Select(s => Measure(s.Name, s.Shape, world, tokenizer, quick, answers)).ToList();
    }

    static RecordCost Measure(string name, ModelShape shape, World world, CompactTokenizer tokenizer, bool quick, int answers)
    {
        var profile = AgentProfile.Default with { Model = shape, Traits = new AgentTraits { KeepOwnAbove = 1.0 }, Update = new UpdatePolicy() };
        var model = new Gpt(shape.ToConfig(tokenizer.VocabSize), 1); // the agent disposes it
        model.eval();
        using var agent = new AgentRuntime("bench", new AgentRuntime.Parts(model, tokenizer, world, profile), null);
        var items = BenchWorld.Queries(world, answers).Select(query =>
        {
            string wrong = query.Candidates.First(c => c != query.Answer);
            var statement = world.TrainingTemplates(RelationCatalogue.Get(query.Relation)).First(t => t.Kind == TemplateKind.Statement);
            var peers = Enumerable.Range(1, 3).Select(c => new PeerStatement($"confederate{c}", wrong, statement.Render(world[query.Subject].Name, wrong.TrimStart()))).ToList();
            return new AskItem(new Question(query.Subject, query.Relation, query.Prompt, query.Candidates), peers);
        }).ToList();

        int repeats = quick ? 1 : 5;
        double Time(bool record)
        {
            agent.RecordsPeerMechanism = record;
            return CoreBenchmarks.MedianMs(() => agent.Answer(items), warmup: 1, repeats) / items.Count;
        }
        // Paired and interleaved, so a slower stretch of a noisy machine falls on both.
        var plain = new List<double>();
        var recorded = new List<double>();
        for (int round = 0; round < (quick ? 1 : 3); round++)
        {
            plain.Add(Time(false));
            recorded.Add(Time(true));
        }
        double answer = CoreBenchmarks.Median([.. plain]), withRecord = CoreBenchmarks.Median([.. recorded]);
        var cost = new RecordCost(name, items.Count, (int)items.Average(i => i.Question.Candidates.Count), answer, withRecord, (withRecord - answer) / answer);
        Output.Status.MarkupLine($"mechanism record {name}: {answer:F1} ms per answer read with peers, {withRecord:F1} ms with its record = +{cost.RecordOverAnswer:P0} " +
            $"({cost.Answers} answers, {cost.Candidates} candidates each, 3 confederates)");
        return cost;
    }
}
