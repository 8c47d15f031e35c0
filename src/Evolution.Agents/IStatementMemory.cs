namespace Evolution.Agents;

/// <summary>An agent's retrieval memory as the agent uses it: statements in, the best k statements for a question out.</summary>
public interface IStatementMemory : IDisposable
{
    /// <summary>Stores the news statement (idempotent: the same news twice is stored once); returns the bytes it added.</summary>
    long Add(NewsItem news);

    /// <summary>The statement texts most relevant to the question, best first.</summary>
    IReadOnlyList<string> Retrieve(Question question, int k);
}
