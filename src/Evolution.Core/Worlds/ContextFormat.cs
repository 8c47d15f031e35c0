namespace Evolution.Core.Worlds;

/// <summary>
/// The one format of a context line, "Context: s1 s2 … &lt;query&gt;", written by the corpus and read by agents
/// when they put retrieved or peer statements in front of a prompt: an agent reads contexts only in the
/// format it was trained on.
/// </summary>
public static class ContextFormat
{
    /// <summary>
    /// Marks a statement to complete as the query of a context line. A question opens with its own marker
    /// ("Q:", "Question:"); a bare statement after a context would read as one more sentence of a biography,
    /// where the agent's memory decides the object, so it is asked as "Q: Kemtaro Drassil was born in" (cf. IKE's
    /// "New Fact: … Prompt: …" format, Zheng et al. 2023). Only agents trained with statement queries
    /// (<see cref="DataMix.ContextStatementShare"/> &gt; 0) read the marker.
    /// </summary>
    public const string StatementQueryMarker = "Q:";

    /// <summary>Whether the prompt is a question ("Q: …", "Question: …") rather than a statement to complete.</summary>
    public static bool IsQuestion(string prompt) => prompt.StartsWith("Q:", StringComparison.Ordinal) || prompt.StartsWith("Question:", StringComparison.Ordinal);

    /// <summary>The query as it follows a context: questions as they are, statements marked when <paramref name="markStatements"/>.</summary>
    public static string Query(string prompt, bool markStatements) =>
        markStatements && !IsQuestion(prompt) ? $"{StatementQueryMarker} {prompt}" : prompt;

    public static string Line(IEnumerable<string> statements, string query, bool markStatements) =>
        $"Context: {string.Join(" ", statements)} {Query(query, markStatements)}";
}
