using Evolution.Agents;

namespace Evolution.Cli;

/// <summary>Builds an agent's retrieval memory (wired to Evolution.Updates' retrieval memory).</summary>
public static class AgentMemories
{
    public static IStatementMemory Create(string path, AgentRuntime.Parts parts) =>
        throw new Core.InputException(path, "update", "retrieval memory is not wired in yet");
}
