namespace Evolution.Agents;

/// <summary>
/// What outlives an agent actor's restarts: how to build the agent from its checkpoint and memory,
/// and the news it took in so far (by request key, in order), replayed into its weights after a restart (edits are
/// deterministic, so the replayed weights equal the lost ones). Memory lives in its own database
/// and survives by itself. On a cluster a home is per node: an agent rebuilt on another node gets its
/// history from the moderator (<see cref="RestoreLearned"/>).
/// </summary>
public sealed class AgentHome(string name, Func<AgentRuntime> build)
{
    readonly List<(LearnNews Request, UpdateOutcome Outcome)> learned = [];

    public string Name { get; } = name;

    /// <summary>Set by <see cref="FailNextMessage"/>; the next message throws once.</summary>
    internal string? PendingFault { get; set; }

    public int Restarts { get; internal set; }

    /// <summary>A fresh runtime from the checkpoint, with every parametric update learned so far applied again.</summary>
    public AgentRuntime Rebuild()
    {
        var runtime = build();
        if (Parametric(runtime))
            lock (learned)
                foreach (var (request, _) in learned) runtime.Learn(request.News);
        return runtime;
    }

    /// <summary>Updates that live in the weights (memory keeps its statements in its own database).</summary>
    internal static bool Parametric(AgentRuntime runtime) => runtime.Profile.Update.Channel is not (Core.Agents.UpdateChannel.None or Core.Agents.UpdateChannel.Rag);

    readonly Dictionary<object, int> failures = new(ReferenceEqualityComparer.Instance);

    /// <summary>How many times this very request has failed, counting this time.</summary>
    internal int CountFailure(object message)
    {
        lock (failures) return failures[message] = failures.GetValueOrDefault(message) + 1;
    }

    internal void Remember(LearnNews request, UpdateOutcome outcome)
    {
        lock (learned) learned.Add((request, outcome));
    }

    /// <summary>What the request with this key did, if the agent took it in already (a request sent again is answered, not re-applied).</summary>
    internal UpdateOutcome? Outcome(string key)
    {
        lock (learned) return learned.FirstOrDefault(l => l.Request.Key == key).Outcome;
    }

    /// <summary>The keys of the requests taken in, in order.</summary>
    internal IReadOnlyList<string> Keys
    {
        get { lock (learned) return [.. learned.Select(l => l.Request.Key)]; }
    }

    /// <summary>Replaces the history (an agent rebuilt elsewhere that took requests in another order than the moderator's).</summary>
    internal void Reset(IEnumerable<(LearnNews Request, UpdateOutcome Outcome)> history)
    {
        lock (learned)
        {
            learned.Clear();
            learned.AddRange(history);
        }
    }
}
