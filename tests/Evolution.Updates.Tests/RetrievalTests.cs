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

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
