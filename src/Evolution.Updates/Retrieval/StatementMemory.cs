using System.Diagnostics;
using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Text;
using LiteDB;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Updates.Retrieval;

/// <summary>How statements are found: lexical (BM25), dense (the agent's own embeddings), or both fused.</summary>
public enum RetrieverKind { Bm25, Dense, Hybrid }

/// <summary>
/// An agent's retrieval memory: statements in a LiteDB file (persistent; reopening restores
/// statements and their embeddings), found by BM25, by dense retrieval with the agent's own model
/// (the mean-pooled residual stream after a middle layer, cosine similarity), or by both fused
/// with reciprocal rank fusion (Cormack et al. 2009: Σ 1/(60 + rank)).
/// </summary>
public sealed class StatementMemory : IDisposable
{
    const int FusionK = 60;
    readonly LiteDatabase db;
    readonly ILiteCollection<Statement> statements;
    readonly Gpt? model;
    readonly ITextTokenizer? tokenizer;
    readonly List<Statement> loaded = [];
    Bm25 bm25 = new();
    Tensor? embeddings; // [N, d], rows unit-normalised, in load order; rebuilt on the first dense search after a change
    long lastSequence;

    public string Path { get; }
    public RetrieverKind Retriever { get; }
    public int EmbeddingLayer { get; }
    public int Count => loaded.Count;
    /// <summary>Whether texts can be embedded (the memory has the agent's model).</summary>
    public bool CanEmbed => model is not null;

    /// <param name="model">The agent's model, for dense retrieval (null: BM25 only).</param>
    public StatementMemory(string path, RetrieverKind retriever = RetrieverKind.Hybrid, Gpt? model = null, ITextTokenizer? tokenizer = null)
    {
        if (retriever != RetrieverKind.Bm25 && (model is null || tokenizer is null))
            throw new ArgumentException("dense and hybrid retrieval need the agent's model and tokenizer");
        Path = path;
        Retriever = retriever;
        this.model = model;
        this.tokenizer = tokenizer;
        EmbeddingLayer = model is null ? 0 : (model.Config.NLayers - 1) / 2;
        try
        {
            db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct });
            statements = db.GetCollection<Statement>("statements");
            Reload();
        }
        catch (LiteException e)
        {
            throw new InputException(path, null, $"not a readable memory database: {e.Message}");
        }
    }

    /// <summary>Stores a statement (an existing id is left as it is); returns the bytes added (text and embedding), 0 if it was there.</summary>
    public long Add(Statement statement)
    {
        if (statements.FindById(statement.Id) is not null) return 0;
        if (model is not null && statement.Embedding.Length == 0) statement.Embedding = Embed([statement.Text])[0];
        if (statement.Added == default) statement.Added = DateTime.UtcNow;
        statement.Sequence = ++lastSequence;
        statements.Insert(statement);
        Index(statement);
        return System.Text.Encoding.UTF8.GetByteCount(statement.Text) + statement.Embedding.Length * sizeof(float);
    }

    /// <summary>Stores many new statements in one transaction (ids must not be stored yet); returns the bytes added.</summary>
    public long AddRange(IReadOnlyList<Statement> batch)
    {
        foreach (var s in batch)
        {
            if (model is not null && s.Embedding.Length == 0) s.Embedding = Embed([s.Text])[0];
            if (s.Added == default) s.Added = DateTime.UtcNow;
            s.Sequence = ++lastSequence;
        }
        statements.InsertBulk(batch);
        foreach (var s in batch) Index(s);
        return batch.Sum(s => System.Text.Encoding.UTF8.GetByteCount(s.Text) + (long)s.Embedding.Length * sizeof(float));
    }

    public IReadOnlyList<Statement> All => loaded;

    /// <summary>Bytes held: every statement's text (UTF-8) and embedding (fp32).</summary>
    public long BytesStored => loaded.Sum(s => System.Text.Encoding.UTF8.GetByteCount(s.Text) + (long)s.Embedding.Length * sizeof(float));

    /// <summary>The statement with this id, or null.</summary>
    public Statement? Get(string id) => loaded.FirstOrDefault(s => s.Id == id);

    /// <summary>
    /// Stores the statement, replacing one with the same id (text, embedding and all; an embedding given by
    /// the caller is kept, a missing one computed; a replacement counts as the newest statement); returns true
    /// when it replaced one.
    /// </summary>
    public bool Upsert(Statement statement)
    {
        if (model is not null && statement.Embedding.Length == 0) statement.Embedding = Embed([statement.Text])[0];
        if (statement.Added == default) statement.Added = DateTime.UtcNow;
        statement.Sequence = ++lastSequence;
        bool replaced = !statements.Upsert(statement);
        if (replaced) Unindex(statement.Id);
        Index(statement);
        return replaced;
    }

    /// <summary>Removes the statement with this id; false if there was none.</summary>
    public bool Delete(string id)
    {
        if (!statements.Delete(id)) return false;
        Unindex(id);
        return true;
    }

    /// <summary>Removes every statement.</summary>
    public void Clear()
    {
        statements.DeleteAll();
        Reload();
    }

    /// <summary>The top-k statements by cosine similarity between their stored embeddings and <paramref name="vector"/>;
    /// only statements <paramref name="where"/> accepts, when given.</summary>
    public IReadOnlyList<Retrieved> SearchByVector(ReadOnlySpan<float> vector, int k, Func<Statement, bool>? where = null)
    {
        var matrix = Embeddings();
        if (matrix is null || k <= 0) return [];
        if (vector.Length != matrix.shape[1]) throw new ArgumentException($"the vector has {vector.Length} dimensions, the memory's embeddings {matrix.shape[1]}");
        using var scope = NewDisposeScope();
        var q = tensor(vector.ToArray());
        using var floor = 1e-12.ToScalar();
        q = q / q.norm().clamp_min(floor);
        var similarity = matrix.matmul(q);
        int candidates = loaded.Count;
        if (where is not null)
        {
            var keep = loaded.Select(where).ToArray();
            candidates = keep.Count(x => x);
            if (candidates == 0) return [];
            using var minusInfinity = float.NegativeInfinity.ToScalar();
            similarity = similarity.masked_fill(tensor(keep, device: similarity.device).logical_not(), minusInfinity);
        }
        var (values, indices) = similarity.topk(Math.Min(k, candidates));
        var v = values.data<float>().ToArray();
        var ix = indices.data<long>().ToArray();
        return ix.Select((i, j) => new Retrieved(loaded[(int)i], v[j])).ToList();
    }

    /// <summary>
    /// Reciprocal rank fusion of a dense search by <paramref name="vector"/> and a BM25 search by
    /// <paramref name="keywords"/>, each over a deeper list than k (what <see cref="RetrieverKind.Hybrid"/> does for text).
    /// </summary>
    public IReadOnlyList<Retrieved> HybridSearch(ReadOnlySpan<float> vector, string keywords, int k)
    {
        int depth = Math.Max(k * 4, 20);
        return Fuse([SearchByVector(vector, depth), Search(keywords, depth, RetrieverKind.Bm25)], k);
    }

    static IReadOnlyList<Retrieved> Fuse(IReadOnlyList<IReadOnlyList<Retrieved>> lists, int k)
    {
        var fused = new Dictionary<string, (Statement S, double Score)>();
        foreach (var list in lists)
            for (int r = 0; r < list.Count; r++)
            {
                var s = list[r].Statement;
                fused[s.Id] = (s, fused.GetValueOrDefault(s.Id).Score + 1.0 / (FusionK + r + 1));
            }
        return fused.Values.OrderByDescending(x => x.Score).ThenBy(x => x.S.Id, StringComparer.Ordinal).Take(k).Select(x => new Retrieved(x.S, x.Score)).ToList();
    }

    /// <summary>The top-k statements for the query, best first; only statements <paramref name="where"/> accepts, when
    /// given (a metadata filter applied before ranking, e.g. statements about one subject).</summary>
    public IReadOnlyList<Retrieved> Search(string query, int k, RetrieverKind? kind = null, Func<Statement, bool>? where = null)
    {
        switch (kind ?? Retriever)
        {
            case RetrieverKind.Bm25:
                return bm25.Search(query, k, where is null ? null : i => where(loaded[i])).Select(h => new Retrieved(loaded[h.Index], h.Score)).ToList();
            case RetrieverKind.Dense:
                return Dense(query, k, where);
            default:
                // Reciprocal rank fusion over deeper lists of both retrievers.
                int depth = Math.Max(k * 4, 20);
                return Fuse([Search(query, depth, RetrieverKind.Bm25, where), Dense(query, depth, where)], k);
        }
    }

    IReadOnlyList<Retrieved> Dense(string query, int k, Func<Statement, bool>? where) =>
        loaded.Count == 0 || model is null ? [] : SearchByVector(Embed([query])[0], k, where);

    /// <summary>The text's embedding: the residual stream after the middle block (blocks.{(L−1)/2}.hook_resid_post), mean-pooled over its tokens.</summary>
    public float[][] Embed(IReadOnlyList<string> texts)
    {
        var hook = $"blocks.{EmbeddingLayer}.hook_resid_post";
        bool wasTraining = model!.training;
        model.eval();
        try
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var encoded = texts.Select(t => (int[])[.. tokenizer!.PromptStart, .. tokenizer.Encode(t).Take(model.Config.ContextLength - tokenizer.PromptStart.Count)]).ToList();
            int length = encoded.Max(e => e.Length);
            var tokens = new long[encoded.Count * length];
            var mask = new float[encoded.Count * length];
            // Pool over the text's own tokens, not the leading end-of-text nor the padding.
            for (int i = 0; i < encoded.Count; i++)
                for (int t = 0; t < encoded[i].Length; t++) { tokens[i * length + t] = encoded[i][t]; mask[i * length + t] = t == 0 ? 0 : 1; }
            var (_, cache) = model.RunWithCache(tensor(tokens, [encoded.Count, length], device: model.Unembedding.device), n => n == hook);
            using (cache)
            {
                var m = tensor(mask, [encoded.Count, length, 1]);
                var pooled = (cache[hook].cpu() * m).sum(1) / m.sum(1).clamp_min(Scalars.One);
                var flat = pooled.data<float>().ToArray();
                int d = (int)pooled.shape[1];
                return Enumerable.Range(0, encoded.Count).Select(i => flat.AsSpan(i * d, d).ToArray()).ToArray();
            }
        }
        finally
        {
            model.train(wasTraining);
        }
    }

    /// <summary>Rebuilds the in-memory indexes from the database, in the order the statements were stored.</summary>
    void Reload()
    {
        loaded.Clear();
        bm25 = new Bm25();
        DropEmbeddings();
        // Sequence first; Added and Id order the statements of memories written before it existed (Sequence 0).
        foreach (var s in statements.FindAll().OrderBy(s => s.Sequence).ThenBy(s => s.Added).ThenBy(s => s.Id, StringComparer.Ordinal)) Index(s);
        lastSequence = loaded.Count == 0 ? 0 : loaded.Max(s => s.Sequence);
    }

    /// <summary>Takes the statement with this id out of the in-memory indexes (the database already dropped or replaced it).</summary>
    void Unindex(string id)
    {
        int index = loaded.FindIndex(s => s.Id == id);
        loaded.RemoveAt(index);
        bm25.RemoveAt(index);
        DropEmbeddings();
    }

    void Index(Statement statement)
    {
        loaded.Add(statement);
        bm25.Add(statement.Text);
        if (model is not null && statement.Embedding.Length == 0) statement.Embedding = Embed([statement.Text])[0];
        DropEmbeddings();
    }

    /// <summary>Forgets the embedding matrix after a change; the next dense search rebuilds it.</summary>
    void DropEmbeddings()
    {
        embeddings?.Dispose();
        embeddings = null;
    }

    Tensor? Embeddings()
    {
        if (embeddings is not null || loaded.Count == 0 || loaded[0].Embedding.Length == 0) return embeddings;
        int d = loaded[0].Embedding.Length;
        if (loaded.Any(s => s.Embedding.Length != d)) throw new InvalidOperationException($"the memory's embeddings differ in length (the first has {d})");
        var all = new float[loaded.Count * d];
        for (int i = 0; i < loaded.Count; i++) loaded[i].Embedding.CopyTo(all, i * d);
        using var raw = tensor(all, [loaded.Count, d]);
        using var floor = 1e-12.ToScalar();
        embeddings = (raw / raw.norm(1, true).clamp_min(floor)).DetachFromDisposeScope();
        return embeddings;
    }

    public void Dispose()
    {
        embeddings?.Dispose();
        db.Dispose();
    }
}
