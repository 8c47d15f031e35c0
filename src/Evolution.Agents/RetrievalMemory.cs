using Evolution.Core.Agents;
using Evolution.Updates.Retrieval;

namespace Evolution.Agents;

/// <summary>An agent's <see cref="IStatementMemory"/> on the LiteDB <see cref="StatementMemory"/> (hybrid BM25 + dense retrieval with the agent's own model).</summary>
public sealed class RetrievalMemory(StatementMemory memory) : IStatementMemory
{
    public static RetrievalMemory Open(string path, AgentRuntime.Parts parts) =>
        new(new StatementMemory(path, RetrieverKind.Hybrid, parts.Model, parts.Tokenizer));

    public StatementMemory Store => memory;

    public long Add(NewsItem news) => memory.Add(new Statement
    {
        Id = $"{news.Subject}:{news.Relation}:{news.Epoch}", Text = news.Statement, Subject = news.Subject, Relation = news.Relation,
        Object = news.Object, Epoch = news.Epoch, Source = "news",
    });

    /// <summary>The best k statements for the question; of several about the same fact only the newest is kept (latest wins).</summary>
    public IReadOnlyList<string> Retrieve(Question question, int k, RetrievalScope scope) =>
        memory.Search(question.Prompt, k * 2, where: scope == RetrievalScope.Subject && question.Subject >= 0 ? s => s.Subject == question.Subject : null)
            .Select(r => r.Statement)
            .GroupBy(s => (s.Subject, s.Relation)).Select(g => g.OrderByDescending(s => s.Epoch).First())
            .Take(k).Select(s => s.Text).ToList();

    public bool Holds(int subject, string relation) => memory.All.Any(s => s.Subject == subject && s.Relation == relation);

    public void Dispose() => memory.Dispose();
}
