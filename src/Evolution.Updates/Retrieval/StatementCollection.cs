using System.Linq.Expressions;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.VectorData;

namespace Evolution.Updates.Retrieval;

/// <summary>
/// An agent's <see cref="StatementMemory"/> behind the Microsoft.Extensions.VectorData abstractions, so
/// Semantic Kernel code (text search plugins, RAG pipelines) can read and write an agent's memory like any
/// vector store collection. Keys are statement ids; vectors are the statements' embeddings from the agent's
/// own model. Search input: a text (embedded by the agent's model, as the memory's dense retriever does),
/// or a vector (float[], ReadOnlyMemory&lt;float&gt;, Embedding&lt;float&gt;) of the agent's width. Keyword hybrid
/// search is the memory's reciprocal rank fusion of dense and BM25. Scores are cosine similarities (vector
/// search) or fused reciprocal ranks (hybrid). Filters are applied to the records in memory after ranking.
/// </summary>
public sealed class StatementCollection(StatementMemory memory, string name = "statements", bool ownsMemory = false)
    : VectorStoreCollection<string, Statement>, IKeywordHybridSearchable<Statement>
{
    readonly VectorStoreCollectionMetadata metadata = new() { VectorStoreSystemName = "evolution-litedb", CollectionName = name };

    public StatementMemory Memory => memory;

    public override string Name => name;

    // The memory is one LiteDB collection that exists while the file is open.
    public override Task<bool> CollectionExistsAsync(CancellationToken cancellationToken = default) => Task.FromResult(true);

    public override Task EnsureCollectionExistsAsync(CancellationToken cancellationToken = default) => Task.CompletedTask;

    public override Task EnsureCollectionDeletedAsync(CancellationToken cancellationToken = default)
    {
        memory.Clear();
        return Task.CompletedTask;
    }

    public override Task<Statement?> GetAsync(string key, RecordRetrievalOptions? options = null, CancellationToken cancellationToken = default) =>
        Task.FromResult(memory.Get(key));

    public override async IAsyncEnumerable<Statement> GetAsync(IEnumerable<string> keys, RecordRetrievalOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        foreach (var key in keys)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (memory.Get(key) is { } statement) yield return statement;
        }
        await Task.CompletedTask;
    }

    public override async IAsyncEnumerable<Statement> GetAsync(Expression<Func<Statement, bool>> filter, int top, FilteredRecordRetrievalOptions<Statement>? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        var matches = memory.All.Where(filter.Compile()).Skip(options?.Skip ?? 0).Take(top).ToList();
        foreach (var statement in matches) yield return statement;
        await Task.CompletedTask;
    }

    public override Task DeleteAsync(string key, CancellationToken cancellationToken = default)
    {
        memory.Delete(key);
        return Task.CompletedTask;
    }

    public override Task DeleteAsync(IEnumerable<string> keys, CancellationToken cancellationToken = default)
    {
        foreach (var key in keys) memory.Delete(key);
        return Task.CompletedTask;
    }

    public override Task UpsertAsync(Statement record, CancellationToken cancellationToken = default)
    {
        if (string.IsNullOrEmpty(record.Id)) throw new ArgumentException("a statement needs an id (its key)", nameof(record));
        memory.Upsert(record);
        return Task.CompletedTask;
    }

    public override async Task UpsertAsync(IEnumerable<Statement> records, CancellationToken cancellationToken = default)
    {
        foreach (var record in records) await UpsertAsync(record, cancellationToken);
    }

    public override async IAsyncEnumerable<VectorSearchResult<Statement>> SearchAsync<TInput>(TInput searchValue, int top, VectorSearchOptions<Statement>? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        var hits = memory.SearchByVector(Vector(searchValue), memory.Count);
        foreach (var hit in Page(hits, top, options?.Skip ?? 0, options?.Filter)) yield return hit;
        await Task.CompletedTask;
    }

    public async IAsyncEnumerable<VectorSearchResult<Statement>> HybridSearchAsync<TInput>(TInput searchValue, ICollection<string> keywords, int top,
        HybridSearchOptions<Statement>? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default) where TInput : notnull
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(top, 1);
        var hits = memory.HybridSearch(Vector(searchValue), string.Join(" ", keywords), memory.Count);
        foreach (var hit in Page(hits, top, options?.Skip ?? 0, options?.Filter)) yield return hit;
        await Task.CompletedTask;
    }

    static IEnumerable<VectorSearchResult<Statement>> Page(IReadOnlyList<Retrieved> hits, int top, int skip, Expression<Func<Statement, bool>>? filter)
    {
        var keep = filter?.Compile();
        return hits.Where(h => keep is null || keep(h.Statement)).Skip(skip).Take(top).Select(h => new VectorSearchResult<Statement>(h.Statement, h.Score));
    }

    float[] Vector<TInput>(TInput value) => value switch
    {
        string text when memory.CanEmbed => memory.Embed([text])[0],
        string => throw new NotSupportedException("this memory has no model to embed a text with: search with a vector"),
        float[] array => array,
        ReadOnlyMemory<float> m => m.ToArray(),
        Embedding<float> e => e.Vector.ToArray(),
        _ => throw new NotSupportedException($"search input of type {typeof(TInput).Name}: use a string, float[], ReadOnlyMemory<float> or Embedding<float>"),
    };

    public override object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(VectorStoreCollectionMetadata) ? metadata
        : serviceType == typeof(StatementMemory) ? memory
        : serviceType.IsInstanceOfType(this) ? this : null;

    protected override void Dispose(bool disposing)
    {
        if (disposing && ownsMemory) memory.Dispose();
        base.Dispose(disposing);
    }
}
