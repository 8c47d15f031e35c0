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
    static bool Parametric(AgentRuntime runtime) => runtime.Profile.Update.Channel is not (Core.Agents.UpdateChannel.None or Core.Agents.UpdateChannel.Rag);

    readonly Dictionary<object, int> failures = new(ReferenceEqualityComparer.Instance);

    /// <summary>How many times this very request has failed, counting this time.</summary>
    internal int CountFailure(object message)
    {
        lock (failures) return failures[message] = failures.GetValueOrDefault(message) + 1;
    }

    /// <summary>
    /// <paramref name="runtime"/> takes the news in and it is remembered; a request whose key was taken in already (sent again
    /// because its reply was lost with a node) is answered with what it did then, not applied twice.
    /// </summary>
    internal UpdateOutcome Learn(AgentRuntime runtime, LearnNews request)
    {
        lock (learned)
            if (learned.FirstOrDefault(l => l.Request.Key == request.Key).Outcome is { } done) return done;
        var outcome = runtime.Learn(request.News);
        lock (learned) learned.Add((request, outcome));
        return outcome;
    }

    /// <summary>
    /// Takes in the moderator's history (<see cref="RestoreLearned"/>): what extends its own is applied in order (into the weights
    /// for a parametric channel; memory holds its statements already); a history that disagrees with its own (it took requests in
    /// another order) replaces it, and the agent is rebuilt from the checkpoint. Returns the runtime to go on with and how many
    /// requests it took in.
    /// </summary>
    internal (AgentRuntime Runtime, int Applied) Restore(AgentRuntime runtime, RestoreLearned history)
    {
        lock (learned)
        {
            var given = history.Learned.Select(l => l.Key).ToList();
            if (learned.Count <= given.Count && learned.Select(l => l.Request.Key).SequenceEqual(given.Take(learned.Count)))
            {
                int from = learned.Count;
                for (int i = from; i < given.Count; i++)
                {
                    if (Parametric(runtime)) runtime.Learn(history.Learned[i].News);
                    learned.Add((history.Learned[i], history.Outcomes[i]));
                }
                return (runtime, given.Count - from);
            }
            learned.Clear();
            learned.AddRange(history.Learned.Zip(history.Outcomes));
        }
        runtime.Dispose();
        return (Rebuild(), history.Learned.Count);
    }
}
