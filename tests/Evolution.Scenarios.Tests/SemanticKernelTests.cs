using Evolution.Agents;
using Evolution.Agents.Protocols;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.SemanticKernel;

namespace Evolution.Scenarios.Tests;

[Collection(TinyGroupCollection.Name)]
public class SemanticKernelTests(TinyGroup group)
{
    [Fact]
    public async Task AKernelCallsTheLocalModelThroughIChatClientAndGetsTheAgentsAnswer()
    {
        using var agent = group.Runtime("ada", 1);
        var context = new ProtocolContext(new DirectAgentGroup([agent]), new NullSink(), agent.World, 5, new Dictionary<string, Core.Agents.AgentProfile>());
        // A fact the agent knows: its own ranking puts the truth first.
        var fact = agent.World.FactsAt(0).Select(f => new FactRef(f.Subject, f.Relation))
            .First(f => agent.Answer([new AskItem(context.QuestionFor(f), [])])[0].Answer == context.Truth(f));
        var question = context.QuestionFor(fact).Prompt; // "Q: … A:"

        var builder = Kernel.CreateBuilder();
        builder.Services.AddChatClient(new AgentChatClient(agent));
        var kernel = builder.Build();
        var result = await kernel.InvokePromptAsync(question);

        Assert.StartsWith(context.Truth(fact).Trim(), result.ToString());
    }
}
