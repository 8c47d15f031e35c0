using Evolution.Core.Worlds;
using Evolution.Updates.Retrieval;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace Evolution.Updates.Tests;

/// <summary>The memory as Semantic Kernel code sees it: a <see cref="VectorStoreCollection{TKey,TRecord}"/> of statements.</summary>
[Collection(TinyAgentCollection.Name)]
public class VectorDataTests(TinyAgent tiny) : IDisposable
{
    readonly string directory = Directory.CreateTempSubdirectory("evolution-vectordata").FullName;

    VectorStoreCollection<string, Statement> Open(string path) =>
        new StatementCollection(new StatementMemory(path, RetrieverKind.Hybrid, tiny.Agent.Model, tiny.Agent.Tokenizer), ownsMemory: true);

    [Fact]
    public async Task UpsertSearchAndReopenThroughTheVectorDataAbstractions()
    {
        var (world, path) = (tiny.Agent.World, Path.Combine(directory, "memory.db"));
        var statements = tiny.EpochOneStatements();
        var changes = world.Changes.Where(c => c.Epoch == 1).ToList();
        using (var collection = Open(path))
        {
            await collection.EnsureCollectionExistsAsync();
            Assert.True(await collection.CollectionExistsAsync());
            await collection.UpsertAsync(statements);

            // Vector search: a statement's own embedding finds it first, with cosine similarity 1.
            var own = statements[4];
            var first = await collection.SearchAsync(new Embedding<float>(own.Embedding), top: 3).FirstAsync();
            Assert.Equal(own.Id, first.Record.Id);
            Assert.Equal(1.0, first.Score!.Value, 4);

            // Hybrid search (dense + keywords) finds every changed fact's statement in the top 5 from a held-out question.
            var hybrid = Assert.IsAssignableFrom<IKeywordHybridSearchable<Statement>>(collection);
            foreach (var change in changes)
            {
                var question = EvalSets.ForChange(world, change, heldOut: true)[0].Prompt;
                var hits = await hybrid.HybridSearchAsync(question, question.Split(' '), top: 5).Select(r => r.Record.Id).ToListAsync();
                Assert.Contains($"{change.Subject}:{change.Relation}", hits);
            }

            // Filters apply to records, in search and in get.
            var capitals = await collection.GetAsync(s => s.Relation == "capital", top: 100).ToListAsync();
            Assert.Equal(statements.Count(s => s.Relation == "capital"), capitals.Count);
            var filtered = await collection.SearchAsync(own.Text, top: 5, new VectorSearchOptions<Statement> { Filter = s => s.Relation == "capital" }).ToListAsync();
            Assert.All(filtered, r => Assert.Equal("capital", r.Record.Relation));

            // Upsert replaces by key (here: a correction to another object); delete removes.
            var other = statements.First(s => s.Relation == own.Relation && s.Object != own.Object).Object;
            await collection.UpsertAsync(new Statement { Id = own.Id, Text = own.Text.Replace(own.Object, other), Subject = own.Subject, Relation = own.Relation, Object = other, Epoch = 2 });
            await collection.DeleteAsync(statements[0].Id);
        }

        using var reopened = Open(path);
        Assert.Null(await reopened.GetAsync(statements[0].Id));
        var replaced = await reopened.GetAsync(statements[4].Id);
        Assert.Equal(2, replaced!.Epoch);
        Assert.NotEqual(statements[4].Text, replaced.Text);
        Assert.Equal(tiny.Agent.Model.Config.DModel, replaced.Embedding.Length);
        var kept = await reopened.GetAsync([statements[1].Id, statements[2].Id]).ToListAsync();
        Assert.Equal([statements[1].Text, statements[2].Text], kept.Select(s => s.Text));
        Assert.Equal(statements[1].Embedding, kept[0].Embedding);
        Assert.Equal(statements.Count - 1, ((StatementCollection)reopened).Memory.Count);
        // The replaced statement's new embedding is searchable: its own text finds it.
        Assert.Equal(statements[4].Id, (await reopened.SearchAsync(replaced.Text, top: 1).FirstAsync()).Record.Id);

        await reopened.EnsureCollectionDeletedAsync();
        Assert.Empty(await reopened.GetAsync(_ => true, top: 10).ToListAsync());
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
