using Evolution.Agents;
using Evolution.Agents.Protocols;
using Microsoft.Extensions.AI;
using Microsoft.Extensions.DependencyInjection;
using Evolution.Updates.Retrieval;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.Data;

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

    [Fact]
    public async Task SemanticKernelTextSearchReadsTheAgentsMemoryThroughVectorData()
    {
        using var agent = group.Runtime("ada", 1);
        var path = Path.Combine(Directory.CreateTempSubdirectory("evolution-sk-memory").FullName, "memory.db");
        var context = new ProtocolContext(new DirectAgentGroup([agent]), new NullSink(), agent.World, 5, new Dictionary<string, Core.Agents.AgentProfile>());
        var memory = RetrievalMemory.Open(path, new AgentRuntime.Parts(agent.Model, agent.Tokenizer, agent.World, agent.Profile));
        var news = agent.World.FactsAt(1).Take(12).Select(f => new FactRef(f.Subject, f.Relation)).Select(f => context.News(f, context.Truth(f))).ToList();
        foreach (var item in news) memory.Add(item);
        memory.Dispose();

        // Reopened from the file, as another process would: Semantic Kernel's text search over the collection, as a kernel plugin.
        using var collection = new StatementCollection(RetrievalMemory.Open(path, new AgentRuntime.Parts(agent.Model, agent.Tokenizer, agent.World, agent.Profile)).Store, ownsMemory: true);
#pragma warning disable SKEXP0001 // text search is experimental in Semantic Kernel
        var search = new VectorStoreTextSearch<Statement>(collection, r => ((Statement)r).Text, r => new TextSearchResult(((Statement)r).Text) { Name = ((Statement)r).Id });
        var kernel = Kernel.CreateBuilder().Build();
        kernel.Plugins.Add(search.CreateWithSearch("Memory"));
#pragma warning restore SKEXP0001
        var wanted = news[7].Statement;
        var found = await kernel.InvokeAsync("Memory", "Search", new KernelArguments { ["query"] = wanted, ["count"] = 2 });
        Assert.Contains(wanted, found.GetValue<IEnumerable<string>>()!);
    }
}
