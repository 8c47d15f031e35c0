using Evolution.Core.Agents;
using Evolution.Core.Text;
using Evolution.Core.Worlds;

namespace Evolution.Agents;

/// <summary>
/// How an agent reads a question: the prompt alone, or its retrieved statements and its peers' in front in the format of
/// its training context lines. One class for the agents that own a model (<see cref="AgentRuntime"/>) and those that share
/// a base (<see cref="Population.AgentPopulation"/>), so both read the same text.
/// </summary>
public sealed class AgentReading(World world, ITextTokenizer tokenizer, AgentProfile profile, int contextLength)
{
    /// <summary>Token counts of the texts measured so far: the same statements and questions are read again and again
    /// (a population reads its neighbours' few sentences at every step), so each is tokenized once. Not thread-safe, as an
    /// agent or a population answers from one thread.</summary>
    readonly Dictionary<string, int> lengths = [];

    int Length(string text)
    {
        if (!lengths.TryGetValue(text, out int length)) lengths[text] = length = tokenizer.Encode(text).Length;
        return length;
    }

    /// <summary>
    /// The text the agent reads for a question: the prompt alone, or "Context: s1 s2 … Q: … A:" with the retrieved
    /// statements first, then the peers'. When the statements do not fit the model's context window together with the
    /// question and the longest candidate, the earliest ones are left out (the agent reads what fits, the freshest last).
    /// After retrieved statements the query is <see cref="ReaderQuery"/>.
    /// </summary>
    public string PromptFor(Question question, IReadOnlyList<string> retrieved, IReadOnlyList<string> peers)
    {
        IReadOnlyList<string> statements = [.. retrieved, .. peers];
        if (statements.Count == 0) return question.Prompt;
        bool markStatements = profile.Data.ContextStatementShare > 0;
        var prompt = retrieved.Count > 0 ? ReaderQuery(question) : question.Prompt;
        var query = ContextFormat.Query(prompt, markStatements);
        int budget = contextLength - 1 - Length(query) - question.Candidates.Max(Length);
        var kept = new List<string>();
        int used = Length("Context:");
        for (int i = statements.Count - 1; i >= 0; i--)
        {
            int cost = Length(" " + statements[i]);
            if (used + cost > budget) break;
            used += cost;
            kept.Insert(0, statements[i]);
        }
        return kept.Count == 0 ? question.Prompt : ContextFormat.Line(kept, prompt, markStatements);
    }

    /// <summary>
    /// What the agent asks after retrieved statements: with <see cref="RetrievalQuery.Question"/>, a statement prompt about a
    /// known relation becomes the relation's trained question ("X was born in" → "Q: Where was X born? A:"), the query its
    /// context lines end with; questions, and prompts of no single relation, are asked as they are.
    /// </summary>
    string ReaderQuery(Question question)
    {
        if (profile.Update.Query != RetrievalQuery.Question || question.Subject < 0 || ContextFormat.IsQuestion(question.Prompt)) return question.Prompt;
        var relation = RelationCatalogue.All.FirstOrDefault(r => r.Name == question.Relation);
        return relation is null ? question.Prompt : world.CanonicalQuestion(relation).Prompt(world[question.Subject].Name);
    }
}
