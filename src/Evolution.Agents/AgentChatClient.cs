using System.Runtime.CompilerServices;
using Evolution.Core.Evaluation;
using Microsoft.Extensions.AI;

namespace Evolution.Agents;

/// <summary>
/// An agent's model behind <see cref="IChatClient"/> (Microsoft.Extensions.AI), so Semantic Kernel and
/// other .NET AI code can call it like any chat model. The last user message is the question; it is
/// put in the agent's own format ("Q: … A:", with retrieved statements as "Context: …" when the agent
/// has a memory) and answered by greedy decoding up to the end of the sentence.
/// </summary>
public sealed class AgentChatClient(AgentRuntime agent, IStatementMemory? memory = null, int maxTokens = 12) : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var question = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text
            ?? throw new ArgumentException("the conversation has no user message to answer");
        var prompt = question.TrimEnd().EndsWith("A:", StringComparison.Ordinal) ? question.TrimEnd() : $"Q: {question.Trim()} A:";
        if (memory?.Retrieve(new Question(-1, "", prompt, []), agent.Profile.Update.TopK) is { Count: > 0 } statements)
            prompt = $"Context: {string.Join(" ", statements)} {prompt}";
        string answer;
        lock (agent) answer = new CandidateRanker(agent.Model, agent.Tokenizer).Generate(prompt, options?.MaxOutputTokens ?? maxTokens, stopAt: ".");
        answer = answer.Split(" Q:", 2)[0].Trim();
        return Task.FromResult(new ChatResponse(new ChatMessage(ChatRole.Assistant, answer)) { ModelId = agent.Name });
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var response = await GetResponseAsync(messages, options, cancellationToken);
        foreach (var update in response.ToChatResponseUpdates()) yield return update;
    }

    readonly ChatClientMetadata metadata = new("evolution", null, agent.Name);

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? metadata
        : serviceType.IsInstanceOfType(this) ? this : null;

    public void Dispose() { }
}
