using Evolution.Core.Agents;

namespace Evolution.Agents;

/// <summary>An agent's retrieval memory as the agent uses it: statements in, the best k statements for a question out.</summary>
public interface IStatementMemory : IDisposable
{
    /// <summary>Stores the news statement (idempotent: the same news twice is stored once); returns the bytes it added.</summary>
    long Add(NewsItem news);

    /// <summary>The statement texts most relevant to the question, best first; with <see cref="RetrievalScope.Subject"/>
    /// only statements about the question's subject (every statement when the question has none).</summary>
    IReadOnlyList<string> Retrieve(Question question, int k, RetrievalScope scope);

    /// <summary>Whether a statement about this fact (subject and relation) is stored: what the agent knows it was told.</summary>
    bool Holds(int subject, string relation);
}
