using System.Runtime.CompilerServices;
using Microsoft.Extensions.AI;

namespace Evolution.Agents;

/// <summary>
/// An agent's model behind <see cref="IChatClient"/> (Microsoft.Extensions.AI), so Semantic Kernel and
/// other .NET AI code can call it like any chat model. The last user message is the question; it is
/// put in the agent's own format ("Q: … A:", with retrieved statements as "Context: …" when the agent
/// retrieves from its memory, <see cref="AgentRuntime.Generate"/>) and answered by greedy decoding up to the end of the sentence.
/// </summary>
public sealed class AgentChatClient(AgentRuntime agent, int maxTokens = 12) : IChatClient
{
    public Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var question = messages.LastOrDefault(m => m.Role == ChatRole.User)?.Text
            ?? throw new ArgumentException("the conversation has no user message to answer");
        var prompt = question.TrimEnd().EndsWith("A:", StringComparison.Ordinal) ? question.TrimEnd() : $"Q: {question.Trim()} A:";
        string answer;
        lock (agent) answer = agent.Generate(prompt, options?.MaxOutputTokens ?? maxTokens, stopAt: ".");
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
