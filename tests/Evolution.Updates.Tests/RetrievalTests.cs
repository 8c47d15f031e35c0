using Evolution.Core.Worlds;
using Evolution.Updates.Retrieval;

namespace Evolution.Updates.Tests;

[Collection(TinyAgentCollection.Name)]
public class RetrievalTests(TinyAgent tiny) : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-memory").FullName;

    [Fact]
    public void Bm25PutsTheStatementAboutTheQueriedFactFirst()
    {
        var index = new Bm25();
        index.Add("Kemtaro Drassil was born in Pellamund.");
        index.Add("Orvane Lusk was born in Pellamund.");
        index.Add("Kemtaro Drassil works for Zorvex Labs.");
        Assert.Equal(0, index.Search("Where was Kemtaro Drassil born?", 3)[0].Index);
        Assert.Equal(2, index.Search("Which company does Kemtaro Drassil work for? Zorvex", 3)[0].Index);
        Assert.Empty(index.Search("nothing matches", 3));
    }

    [Fact]
    public void TheMemorySurvivesReopeningWithItsEmbeddingsAndFindsTheChangedFacts()
    {
        var (model, tokenizer, world) = (tiny.Agent.Model, tiny.Agent.Tokenizer, tiny.Agent.World);
        var path = Path.Combine(directory, "memory.db");
        var statements = tiny.EpochOneStatements();
        float[] firstEmbedding;
        using (var memory = new StatementMemory(path, RetrieverKind.Hybrid, model, tokenizer))
        {
            foreach (var s in statements) Assert.True(memory.Add(s) > 0);
            Assert.Equal(0, memory.Add(statements[0])); // the same statement twice is stored once
            firstEmbedding = memory.All[0].Embedding;
            Assert.Equal(model.Config.DModel, firstEmbedding.Length);
        }
        using var reopened = new StatementMemory(path, RetrieverKind.Hybrid, model, tokenizer);
        Assert.Equal(statements.Count, reopened.Count);
        Assert.Equal(firstEmbedding, reopened.All[0].Embedding);

        // Recall@5 of the changed facts' statements, asked with held-out question templates.
        foreach (var kind in new[] { RetrieverKind.Bm25, RetrieverKind.Hybrid })
        {
            var changes = world.Changes.Where(c => c.Epoch == 1).ToList();
            int found = changes.Count(c =>
            {
                var question = EvalSets.ForChange(world, c, heldOut: true)[0].Prompt;
                return reopened.Search(question, 5, kind).Any(r => r.Statement.Id == $"{c.Subject}:{c.Relation}");
            });
            Assert.True(found == changes.Count, $"{kind}: recall@5 {found}/{changes.Count}");
        }
        // Dense retrieval alone is a weaker lexical matcher, but the statement's own text must find itself.
        Assert.Equal(statements[5].Id, reopened.Search(statements[5].Text, 1, RetrieverKind.Dense)[0].Statement.Id);
    }

    [Fact]
    public void AFilterRanksOnlyTheStatementsItAcceptsWithEveryRetriever()
    {
        var (model, tokenizer) = (tiny.Agent.Model, tiny.Agent.Tokenizer);
        var statements = tiny.EpochOneStatements();
        using var memory = new StatementMemory(Path.Combine(directory, "filtered.db"), RetrieverKind.Hybrid, model, tokenizer);
        memory.AddRange(statements);
        // The query is another subject's statement word for word: unfiltered, that statement comes first.
        var other = statements[0];
        var subject = statements.First(s => s.Subject != other.Subject).Subject;
        var own = statements.Where(s => s.Subject == subject).Select(s => s.Id).ToHashSet();
        foreach (var kind in new[] { RetrieverKind.Bm25, RetrieverKind.Dense, RetrieverKind.Hybrid })
        {
            Assert.Equal(other.Id, memory.Search(other.Text, 3, kind)[0].Statement.Id);
            var found = memory.Search(other.Text, 3, kind, s => s.Subject == subject);
            Assert.True(found.Count > 0 && found.All(r => own.Contains(r.Statement.Id)), $"{kind}: {string.Join(", ", found.Select(r => r.Statement.Id))}");
            Assert.Equal(Math.Min(3, own.Count), found.Count(r => own.Contains(r.Statement.Id)));
        }
        Assert.Empty(memory.Search(other.Text, 3, RetrieverKind.Hybrid, _ => false));
    }

    [Fact]
    public void AfterUpsertsAndDeletesReopeningRanksExactlyAsTheOpenMemoryDid()
    {
        var path = Path.Combine(directory, "edited.db");
        var at = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc); // one timestamp for all: only the storing order can break ties
        Statement Make(string id, string text) => new() { Id = id, Text = text, Subject = 1, Relation = "born_in", Added = at };
        string[] queries = ["Where was Kemtaro Drassil born?", "Pellamund", "Ostravel", "Who does Orvane Lusk work for?"];
        List<(string, double)[]> Ranked(StatementMemory memory) =>
            queries.Select(q => memory.Search(q, 10, RetrieverKind.Bm25).Select(r => (r.Statement.Id, r.Score)).ToArray()).ToList();

        List<(string, double)[]> before;
        using (var memory = new StatementMemory(path, RetrieverKind.Bm25))
        {
            // Stored in an order that is not the ids' order, with identical texts, so BM25 ties decide.
            foreach (var id in new[] { "c", "a", "b" }) memory.Add(Make(id, "Kemtaro Drassil was born in Pellamund."));
            memory.Add(Make("d", "Orvane Lusk works for Zorvex Labs."));
            Assert.True(memory.Upsert(Make("a", "Kemtaro Drassil was born in Ostravel.")));
            Assert.False(memory.Upsert(Make("e", "Orvane Lusk works for Pellamund Foods.")));
            Assert.True(memory.Delete("c"));
            Assert.False(memory.Delete("c"));
            before = Ranked(memory);
            Assert.Equal(["b", "a"], before[0].Select(r => r.Item1).Take(2)); // the tie goes to the earlier statement, the replaced one is newest
            Assert.Equal("a", before[2][0].Item1);
            Assert.DoesNotContain(before.SelectMany(r => r), r => r.Item1 == "c");
        }
        using var reopened = new StatementMemory(path, RetrieverKind.Bm25);
        var after = Ranked(reopened);
        for (int i = 0; i < queries.Length; i++) Assert.Equal(before[i], after[i]);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
