using Akka.Actor;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using Evolution.Updates.Population;

namespace Evolution.Agents.Population;

/// <summary>Asks a base for the beliefs of a batch of its agents' questions (one forward pass per chunk of rows).</summary>
public sealed record ScoreOnBase(IReadOnlyList<AgentQuery> Queries);

/// <summary>The beliefs, one per query, in order.</summary>
public sealed record ScoredOnBase(IReadOnlyList<double[]> Beliefs);

/// <summary>Asks a base for the mechanism records of a batch of its agents' answers given with peers.</summary>
public sealed record AnalyzeOnBase(IReadOnlyList<AgentPeerQuery> Queries);

/// <summary>The records, one per query, in order.</summary>
public sealed record AnalyzedOnBase(IReadOnlyList<PeerPressureResult> Results);

/// <summary>Asks a base for one agent's conformity circuit (<see cref="SharedBase.ConformityCircuit"/>).</summary>
public sealed record FindCircuitOnBase(AgentDelta? Delta, IReadOnlyList<ConformityContrast> Contrasts);

/// <summary>The circuit found (null: no contrast usable).</summary>
public sealed record FoundCircuitOnBase(ConformityCircuitResult? Circuit);

/// <summary>
/// Where a population's questions are answered: per base, a batch of (agent delta, prompt, candidates) in, beliefs out.
/// In process (<see cref="InProcessBeliefs"/>) or through one actor per base (<see cref="BaseActors"/>).
/// </summary>
public interface IBeliefSource
{
    /// <summary>Beliefs for each base's batch; the bases may answer at the same time.</summary>
    IReadOnlyDictionary<int, IReadOnlyList<double[]>> Beliefs(IReadOnlyDictionary<int, IReadOnlyList<AgentQuery>> byBase);

    /// <summary>The mechanism records of each base's batch of answers given with peers (<see cref="SharedBase.AnalyzePeers"/>).</summary>
    IReadOnlyDictionary<int, IReadOnlyList<PeerPressureResult>> AnalyzePeers(IReadOnlyDictionary<int, IReadOnlyList<AgentPeerQuery>> byBase);

    /// <summary>One agent's conformity circuit on its base (<see cref="SharedBase.ConformityCircuit"/>).</summary>
    ConformityCircuitResult? ConformityCircuit(int @base, AgentDelta? delta, IReadOnlyList<ConformityContrast> contrasts);
}

/// <summary>Every base answered on the calling thread, one after another.</summary>
public sealed class InProcessBeliefs(IReadOnlyList<PopulationBase> bases) : IBeliefSource
{
    public IReadOnlyDictionary<int, IReadOnlyList<double[]>> Beliefs(IReadOnlyDictionary<int, IReadOnlyList<AgentQuery>> byBase) =>
        byBase.ToDictionary(p => p.Key, p => bases[p.Key].Answers.Beliefs(p.Value));

    public IReadOnlyDictionary<int, IReadOnlyList<PeerPressureResult>> AnalyzePeers(IReadOnlyDictionary<int, IReadOnlyList<AgentPeerQuery>> byBase) =>
        byBase.ToDictionary(p => p.Key, p => bases[p.Key].Answers.AnalyzePeers(p.Value));

    public ConformityCircuitResult? ConformityCircuit(int @base, AgentDelta? delta, IReadOnlyList<ConformityContrast> contrasts) =>
        bases[@base].Answers.ConformityCircuit(delta, contrasts);
}

/// <summary>
/// One actor per base: a population's agents stay plain rows (an actor per agent would only forward to its base), and
/// the base, the unit that owns weights and does the work, is the actor. Each base's batch is sent to its actor and all
/// are awaited together, so bases answer in parallel; the actor is the unit a cluster would place on another node.
/// </summary>
public sealed class BaseActors(IReadOnlyList<IActorRef> actors, TimeSpan timeout) : IBeliefSource
{
    public IReadOnlyDictionary<int, IReadOnlyList<double[]>> Beliefs(IReadOnlyDictionary<int, IReadOnlyList<AgentQuery>> byBase)
    {
        var asked = byBase.ToDictionary(p => p.Key, p => actors[p.Key].Ask<ScoredOnBase>(new ScoreOnBase(p.Value), timeout));
        Task.WaitAll([.. asked.Values]);
        return asked.ToDictionary(p => p.Key, p => p.Value.Result.Beliefs);
    }

    public IReadOnlyDictionary<int, IReadOnlyList<PeerPressureResult>> AnalyzePeers(IReadOnlyDictionary<int, IReadOnlyList<AgentPeerQuery>> byBase)
    {
        var asked = byBase.ToDictionary(p => p.Key, p => actors[p.Key].Ask<AnalyzedOnBase>(new AnalyzeOnBase(p.Value), timeout));
        Task.WaitAll([.. asked.Values]);
        return asked.ToDictionary(p => p.Key, p => p.Value.Result.Results);
    }

    public ConformityCircuitResult? ConformityCircuit(int @base, AgentDelta? delta, IReadOnlyList<ConformityContrast> contrasts) =>
        actors[@base].Ask<FoundCircuitOnBase>(new FindCircuitOnBase(delta, contrasts), timeout).Result.Circuit;
}

/// <summary>A base as an actor: answers <see cref="ScoreOnBase"/> and <see cref="AnalyzeOnBase"/> through its <see cref="SharedBase"/>; a failure goes back to the asker.</summary>
public sealed class BaseActor : ReceiveActor
{
    public static Props Props(PopulationBase @base) => Akka.Actor.Props.Create(() => new BaseActor(@base));

    public BaseActor(PopulationBase @base)
    {
        Receive<ScoreOnBase>(m =>
        {
            try { Sender.Tell(new ScoredOnBase(@base.Answers.Beliefs(m.Queries))); }
            catch (Exception e) { Sender.Tell(new Status.Failure(e)); }
        });
        Receive<AnalyzeOnBase>(m =>
        {
            try { Sender.Tell(new AnalyzedOnBase(@base.Answers.AnalyzePeers(m.Queries))); }
            catch (Exception e) { Sender.Tell(new Status.Failure(e)); }
        });
        Receive<FindCircuitOnBase>(m =>
        {
            try { Sender.Tell(new FoundCircuitOnBase(@base.Answers.ConformityCircuit(m.Delta, m.Contrasts))); }
            catch (Exception e) { Sender.Tell(new Status.Failure(e)); }
        });
    }
}
