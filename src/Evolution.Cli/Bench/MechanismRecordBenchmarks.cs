using Evolution.Agents;
using Evolution.Agents.Population;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Mechanisms;
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
        return [.. shapes.Select(s => Measure(s.Name, s.Shape, world, tokenizer, quick, answers)), MeasureOnSharedBase(world, tokenizer, quick, answers)];
    }

    /// <summary>
    /// The same on a population's shared base (the default agent's shape): each answer is another agent's, with its own random
    /// rank-1 change of the last MLP (one ROME edit's size, <see cref="PopulationBenchmarks.RandomDeltas"/>); answering is its
    /// two batched scorings (alone, then with the confederates, as <see cref="Agents.Population.AgentPopulation"/> asks), the
    /// record the batched analysis under the agents' deltas (<see cref="SharedBase.AnalyzePeers"/>). Agents that read the same
    /// text with the same weights share one record in a spread; here none does, the costliest case.
    /// </summary>
    static RecordCost MeasureOnSharedBase(World world, CompactTokenizer tokenizer, bool quick, int answers)
    {
        using var model = new Gpt(new ModelShape().ToConfig(tokenizer.VocabSize), 1);
        model.eval();
        var shared = new SharedBase(model, tokenizer);
        var deltas = PopulationBenchmarks.RandomDeltas(model.Config, answers);
        try
        {
            var asked = BenchWorld.Queries(world, answers).Select((query, i) =>
            {
                string wrong = query.Candidates.First(c => tokenizer.Encode(c)[0] != tokenizer.Encode(query.Answer)[0]);
                var statement = world.TrainingTemplates(RelationCatalogue.Get(query.Relation)).First(t => t.Kind == TemplateKind.Statement);
                var peerCase = new PeerCase([.. Enumerable.Repeat(statement.Render(world[query.Subject].Name, wrong.TrimStart()), 3)], query.Prompt, query.Answer.TrimStart(), wrong.TrimStart());
                return (Alone: new AgentQuery(deltas[i], query.Prompt, query.Candidates), WithPeers: new AgentQuery(deltas[i], peerCase.Prompt, query.Candidates), Case: peerCase,
                    Own: query.Candidates.ToList().IndexOf(query.Answer), Peers: query.Candidates.ToList().IndexOf(wrong));
            }).ToList();
            IReadOnlyList<double[]> withPeers = [];
            void Answer()
            {
                shared.Beliefs([.. asked.Select(a => a.Alone)]);
                withPeers = shared.Beliefs([.. asked.Select(a => a.WithPeers)]);
            }
            Answer();
            var queries = asked.Select((a, i) => new AgentPeerQuery(deltas[i], new PeerQuery(a.Case.Reading, a.Case.OwnAnswer, a.Case.PeersAnswer,
                (Math.Log(withPeers[i][a.Own]), Math.Log(withPeers[i][a.Peers]))))).ToList();
            int repeats = quick ? 1 : 5;
            var (answer, recordMs) = Interleaved(() => CoreBenchmarks.MedianMs(Answer, warmup: 1, repeats) / answers,
                () => CoreBenchmarks.MedianMs(() => shared.AnalyzePeers(queries), warmup: 1, repeats) / answers, quick);
            var cost = new RecordCost("population L4-D128", answers, (int)asked.Average(a => a.Alone.Candidates.Count), answer, answer + recordMs, recordMs / answer);
            Output.Status.MarkupLine($"mechanism record {cost.Model}: {answer:F1} ms per answer read with peers on a shared base, {cost.AnswerWithRecordMs:F1} ms with its record = +{cost.RecordOverAnswer:P0} " +
                $"({cost.Answers} agents, each with its own rank-1 delta, {cost.Candidates} candidates each, 3 confederates)");
            return cost;
        }
        finally
        {
            foreach (var d in deltas) d.Dispose();
        }
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
        var (answer, withRecord) = Interleaved(() => Time(false), () => Time(true), quick);
        var cost = new RecordCost(name, items.Count, (int)items.Average(i => i.Question.Candidates.Count), answer, withRecord, (withRecord - answer) / answer);
        Output.Status.MarkupLine($"mechanism record {name}: {answer:F1} ms per answer read with peers, {withRecord:F1} ms with its record = +{cost.RecordOverAnswer:P0} " +
            $"({cost.Answers} answers, {cost.Candidates} candidates each, 3 confederates)");
        return cost;
    }

    /// <summary>The medians of two timings taken in turn (three pairs; one with quick), so a slower stretch of a noisy machine falls on both.</summary>
    static (double A, double B) Interleaved(Func<double> a, Func<double> b, bool quick)
    {
        var (first, second) = (new List<double>(), new List<double>());
        for (int round = 0; round < (quick ? 1 : 3); round++)
        {
            first.Add(a());
            second.Add(b());
        }
        return (CoreBenchmarks.Median([.. first]), CoreBenchmarks.Median([.. second]));
    }
}
