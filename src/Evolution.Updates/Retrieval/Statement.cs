namespace Evolution.Updates.Retrieval;

/// <summary>One remembered statement (a LiteDB document; <see cref="Embedding"/> is stored so reopening does not recompute it).</summary>
public sealed class Statement
{
    public string Id { get; set; } = "";
    public string Text { get; set; } = "";
    public int Subject { get; set; }
    public string Relation { get; set; } = "";
    public string Object { get; set; } = "";
    public int Epoch { get; set; }
    public string Source { get; set; } = "";
    public DateTime Added { get; set; }
    /// <summary>The order the memory stored it in (1, 2, …; set by the memory): reopening restores that order, so BM25's
    /// tie-break (earlier statement first) ranks exactly as before. 0 in memories written before it existed.</summary>
    public long Sequence { get; set; }
    public float[] Embedding { get; set; } = [];
}

/// <summary>A retrieved statement and its score under the retriever that found it.</summary>
public sealed record Retrieved(Statement Statement, double Score);
