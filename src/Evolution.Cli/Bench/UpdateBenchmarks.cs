using System.Diagnostics;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Updates;
using Evolution.Updates.Retrieval;
using static TorchSharp.torch;

namespace Evolution.Cli.Bench;

/// <summary>
/// Cost of the update channels on the default world (scenarios/worlds/default.yaml) and the default agent's shape and
/// corpus (agents/default.yaml; weights untrained, which does not change the cost): a ROME edit with its key covariance already cached,
/// one MEMIT batch of 100 edits, and retrieval latency per query at 10k and 100k statements.
/// </summary>
public static class UpdateBenchmarks
{
    public sealed record EditCost(string Method, int Edits, double SecondsPerBatch, double MillisecondsPerEdit, double ForwardMs, double EditOverForward);
    public sealed record RetrievalCost(string Retriever, int Statements, double MillisecondsPerQuery);

    public static (IReadOnlyList<EditCost> Edits, IReadOnlyList<RetrievalCost> Retrieval) Measure(bool quick)
    {
        var (world, tokenizer) = BenchWorld.Load();
        var agent = AgentProfile.Default;
        using var model = new Gpt(agent.Model.ToConfig(tokenizer.VocabSize), 1);
        var corpus = EditorCorpus.Of(world, agent.Data, agent.Training.Seed);
        var random = new Random(1);
        var requests = world.FactsAt(0).OrderBy(_ => random.Next()).Take(100).Select(f =>
        {
            var options = world.CandidateEntities(RelationCatalogue.Get(f.Relation).ObjectType).Where(e => e.Id != f.Object).ToList();
            return EditEvaluation.RequestFor(world, new FactChange(1, f.Subject, f.Relation, f.Object, options[random.Next(options.Count)].Id));
        }).ToList();
        double forwardMs = ForwardMs(model, tokenizer, requests[0].Prompt);

        var edits = new List<EditCost>();
        var rome = KnowledgeEditors.Create("rome", model.Config, corpus);
        rome.ComputeDelta(model, tokenizer, [requests[0]]).Dispose(); // caches the covariance of layer 0
        int romeEdits = quick ? 2 : 5;
        var clock = Stopwatch.StartNew();
        foreach (var request in requests.Skip(1).Take(romeEdits)) rome.ComputeDelta(model, tokenizer, [request]).Dispose();
        double romeSeconds = clock.Elapsed.TotalSeconds / romeEdits;
        edits.Add(new EditCost("rome", 1, romeSeconds, romeSeconds * 1000, forwardMs, romeSeconds * 1000 / forwardMs));

        var memit = KnowledgeEditors.Create("memit", model.Config, corpus);
        memit.ComputeDelta(model, tokenizer, requests.Take(2).ToList()).Dispose(); // caches the covariances
        int batch = quick ? 20 : 100;
        clock.Restart();
        memit.ComputeDelta(model, tokenizer, requests.Take(batch).ToList()).Dispose();
        double memitSeconds = clock.Elapsed.TotalSeconds;
        edits.Add(new EditCost("memit", batch, memitSeconds, memitSeconds * 1000 / batch, forwardMs, memitSeconds * 1000 / forwardMs));

        var retrieval = new List<RetrievalCost>();
        foreach (int size in quick ? new[] { 10_000 } : new[] { 10_000, 100_000 })
            retrieval.AddRange(MeasureRetrieval(world, model, tokenizer, size, quick ? 20 : 50));
        return (edits, retrieval);
    }

    static IEnumerable<RetrievalCost> MeasureRetrieval(World world, Gpt model, ITextTokenizer tokenizer, int size, int queries)
    {
        var directory = Directory.CreateTempSubdirectory("evolution-bench-memory");
        try
        {
            var random = new Random(size);
            var facts = world.FactsAt(0);
            var path = Path.Combine(directory.FullName, "memory.db");
            // Statements from random facts with random objects; embeddings drawn at random (the
            // search cost does not depend on their values), so filling 100k rows needs no forward passes.
            using (var fill = new StatementMemory(path, RetrieverKind.Bm25))
            {
                var batch = new List<Statement>(size);
                for (int i = 0; i < size; i++)
                {
                    var fact = facts[random.Next(facts.Count)];
                    var relation = RelationCatalogue.Get(fact.Relation);
                    var templates = world.TrainingTemplates(relation).Where(t => t.Kind == TemplateKind.Statement).ToList();
                    var objects = world.CandidateEntities(relation.ObjectType);
                    var embedding = Enumerable.Range(0, model.Config.DModel).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
                    batch.Add(new Statement
                    {
                        Id = $"s{i}", Text = templates[random.Next(templates.Count)].Render(world[fact.Subject].Name, objects[random.Next(objects.Count)].Name),
                        Subject = fact.Subject, Relation = fact.Relation, Epoch = 0, Embedding = embedding, Added = new DateTime(2026, 1, 1).AddSeconds(i),
                    });
                }
                fill.AddRange(batch);
            }
            using var memory = new StatementMemory(path, RetrieverKind.Hybrid, model, tokenizer);
            var questions = Enumerable.Range(0, queries).Select(_ =>
            {
                var fact = facts[random.Next(facts.Count)];
                return world.TrainingTemplates(RelationCatalogue.Get(fact.Relation)).First(t => t.IsQuery && t.Kind == TemplateKind.Question).Prompt(world[fact.Subject].Name);
            }).ToList();
            foreach (var kind in new[] { RetrieverKind.Bm25, RetrieverKind.Dense, RetrieverKind.Hybrid })
            {
                memory.Search(questions[0], 5, kind); // warm-up
                var clock = Stopwatch.StartNew();
                foreach (var q in questions) memory.Search(q, 5, kind);
                yield return new RetrievalCost(kind.ToString().ToLowerInvariant(), size, clock.Elapsed.TotalMilliseconds / questions.Count);
            }
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    static double ForwardMs(Gpt model, ITextTokenizer tokenizer, string prompt)
    {
        using var _ = no_grad();
        var ids = tokenizer.Encode(prompt).Select(i => (long)i).ToArray();
        using var input = tensor(ids, [1, ids.Length]);
        model.eval();
        model.forward(input).Dispose();
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < 20; i++) model.forward(input).Dispose();
        return clock.Elapsed.TotalMilliseconds / 20;
    }
}
