namespace Evolution.Agents;

/// <summary>
/// What outlives an agent actor's restarts: how to build the agent from its checkpoint and memory,
/// and the news it took in so far (by request key, in order), replayed into its weights and memory after a restart (edits are
/// deterministic, so the replayed weights equal the lost ones). On a cluster a home is per node: an agent built on a node
/// reads its history from the run database through the recorder (<see cref="ReadHistory"/>, <see cref="RestoreLearned"/>).
/// </summary>
public sealed class AgentHome(string name, Func<AgentRuntime> build)
{
    readonly List<(LearnNews Request, UpdateOutcome Outcome)> learned = [];

    public string Name { get; } = name;

    /// <summary>Set by <see cref="FailNextMessage"/>; the next message throws once.</summary>
    internal string? PendingFault { get; set; }

    public int Restarts { get; internal set; }

    /// <summary>A fresh runtime from the checkpoint and memory, with every update learned so far applied again.</summary>
    public AgentRuntime Rebuild()
    {
        var runtime = build();
        if (Replays(runtime))
            lock (learned)
                foreach (var (request, _) in learned) runtime.Learn(request.News);
        return runtime;
    }

    /// <summary>
    /// Whether updates change the agent: into its weights, or into its memory. A memory that survived (the same node's file) holds
    /// the statements already and stores each once; one opened fresh on another node gets them back this way.
    /// </summary>
    static bool Replays(AgentRuntime runtime) => runtime.Profile.Update.Channel is not Core.Agents.UpdateChannel.None;

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
    /// Takes in the history the run database recorded (<see cref="RestoreLearned"/>): what extends its own is applied in order
    /// (into the weights, or into memory, whose statements are stored once however often they are added); a history that is
    /// behind its own (the latest update was acknowledged but not recorded yet) changes nothing; one that disagrees (another
    /// order) replaces it, and the agent is rebuilt from the checkpoint. Returns the runtime to go on with and how many requests
    /// it took in.
    /// </summary>
    internal (AgentRuntime Runtime, int Applied) Restore(AgentRuntime runtime, RestoreLearned history)
    {
        lock (learned)
        {
            var own = learned.Select(l => l.Request.Key).ToList();
            var given = history.Learned.Select(l => l.Key).ToList();
            if (own.Count >= given.Count && own.Take(given.Count).SequenceEqual(given)) return (runtime, 0);
            if (own.SequenceEqual(given.Take(own.Count)))
            {
                for (int i = own.Count; i < given.Count; i++)
                {
                    if (Replays(runtime)) runtime.Learn(history.Learned[i].News);
                    learned.Add((history.Learned[i], history.Outcomes[i]));
                }
                return (runtime, given.Count - own.Count);
            }
            learned.Clear();
            learned.AddRange(history.Learned.Zip(history.Outcomes));
        }
        runtime.Dispose();
        return (Rebuild(), history.Learned.Count);
    }
}
