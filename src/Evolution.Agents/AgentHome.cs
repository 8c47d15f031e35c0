namespace Evolution.Agents;

/// <summary>
/// What outlives an agent actor's restarts: how to build the agent from its checkpoint and memory,
/// and the news it took into its weights so far, replayed in order after a restart (edits are
/// deterministic, so the replayed weights equal the lost ones). Memory lives in its own database
/// and survives by itself.
/// </summary>
public sealed class AgentHome(string name, Func<AgentRuntime> build)
{
    readonly List<IReadOnlyList<NewsItem>> learned = [];

    public string Name { get; } = name;

    /// <summary>Set by <see cref="FailNextMessage"/>; the next message throws once.</summary>
    internal string? PendingFault { get; set; }

    public int Restarts { get; internal set; }

    /// <summary>A fresh runtime from the checkpoint, with every parametric update learned so far applied again.</summary>
    public AgentRuntime Rebuild()
    {
        var runtime = build();
        var parametric = runtime.Profile.Update.Channel is not (Core.Agents.UpdateChannel.None or Core.Agents.UpdateChannel.Rag);
        if (parametric)
            lock (learned)
                foreach (var news in learned) runtime.Learn(news);
        return runtime;
    }

    readonly Dictionary<object, int> failures = new(ReferenceEqualityComparer.Instance);

    /// <summary>How many times this very request has failed, counting this time.</summary>
    internal int CountFailure(object message)
    {
        lock (failures) return failures[message] = failures.GetValueOrDefault(message) + 1;
    }

    internal void Remember(IReadOnlyList<NewsItem> news)
    {
        lock (learned) learned.Add(news);
    }
}
