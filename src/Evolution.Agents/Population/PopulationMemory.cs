using Evolution.Agents.Protocols;
using LiteDB;

namespace Evolution.Agents.Population;

/// <summary>The statement one agent of a population holds about one fact: its latest (one document per agent and fact).</summary>
public sealed class MemoryStatement
{
    public string Id { get; set; } = "";
    public int Agent { get; set; }
    public int Subject { get; set; }
    public string Relation { get; set; } = "";
    public string Object { get; set; } = "";
    public string Text { get; set; } = "";

    public static string IdOf(int agent, FactRef fact) => $"{agent}/{fact.Subject}/{fact.Relation}";
}

/// <summary>
/// Every population agent's retrieval memory, as the documents of one LiteDB collection tagged by agent and indexed by it,
/// so that a retrieval reads only the asking agents' statements. A run keeps it in one file of its own (memory/population.db),
/// not in run.db: it is derived state, what the rounds recorded in run.db committed, so it is emptied when opened and refilled
/// by replaying those rounds. That keeps a resumed run exact whatever a kill left in the file (a write of a round run.db never
/// recorded), and its many writes stay out of the run's record and its journal. Without a run it lives in memory.
/// </summary>
public sealed class PopulationMemory : IDisposable
{
    public const string CollectionName = "memories";
    public const string FileName = "population.db";

    readonly LiteDatabase db;
    readonly ILiteCollection<MemoryStatement> statements;

    PopulationMemory(LiteDatabase db)
    {
        this.db = db;
        db.DropCollection(CollectionName);
        statements = db.GetCollection<MemoryStatement>(CollectionName);
        statements.EnsureIndex(s => s.Agent);
    }

    /// <summary>Objects are stored as candidates are spelled, with their leading space (LiteDB would trim it by default).</summary>
    static BsonMapper Mapper => new() { TrimWhitespace = false, EmptyStringToNull = false };

    public static PopulationMemory InMemory() => new(new LiteDatabase(new MemoryStream(), Mapper));

    /// <summary>The store in the file at <paramref name="path"/>, emptied: whatever it held is replaced by what is replayed into it.</summary>
    public static PopulationMemory Open(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        return new(new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct }, Mapper));
    }

    /// <summary>The objects held under these ids (<see cref="MemoryStatement.IdOf"/>), by id; one query.</summary>
    public Dictionary<string, string> Held(IReadOnlyCollection<string> ids) => ids.Count == 0 ? [] :
        statements.Find(Query.In("_id", new BsonArray(ids.Select(id => new BsonValue(id))))).ToDictionary(s => s.Id, s => s.Object);

    /// <summary>
    /// Stores <paramref name="added"/>, about facts their agents held nothing about, and <paramref name="replaced"/>, in place
    /// of what they held (told apart by the caller: an upsert costs about twice an insert). Each is one transaction; a kill
    /// between them needs no care, as the store is refilled whenever a run starts.
    /// </summary>
    public void Write(IReadOnlyCollection<MemoryStatement> added, IReadOnlyCollection<MemoryStatement> replaced)
    {
        if (added.Count > 0) statements.Insert(added);
        if (replaced.Count > 0) statements.Update(replaced);
    }

    /// <summary>
    /// The statements of the asked agents about the asked subjects, per (agent, subject), in relation order: one query,
    /// filtered by agent on the index, then by subject, before anything is ranked.
    /// </summary>
    public Dictionary<(int Agent, int Subject), List<MemoryStatement>> Shelves(IReadOnlyCollection<(int Agent, int Subject)> asked)
    {
        if (asked.Count == 0) return [];
        var agents = new BsonArray(asked.Select(a => a.Agent).Distinct().Select(a => new BsonValue(a)));
        var subjects = new BsonArray(asked.Select(a => a.Subject).Distinct().Select(s => new BsonValue(s)));
        var wanted = asked.ToHashSet();
        // An agent may hold statements about a subject only others asked about: the query returns a superset of the shelves.
        return statements.Find(Query.And(Query.In(nameof(MemoryStatement.Agent), agents), Query.In(nameof(MemoryStatement.Subject), subjects)))
            .Where(s => wanted.Contains((s.Agent, s.Subject)))
            .GroupBy(s => (s.Agent, s.Subject))
            .ToDictionary(g => g.Key, g => g.OrderBy(s => s.Relation, StringComparer.Ordinal).ToList());
    }

    /// <summary>Bytes of the stored statements (UTF-16).</summary>
    public long Bytes => statements.Query().Select(s => s.Text).ToEnumerable().Sum(t => 2L * t.Length);

    public void Dispose() => db.Dispose();
}
