using Evolution.Agents.Protocols;
using Evolution.Core.Agents;
using Evolution.Core.Evaluation;
using Evolution.Core.Worlds;
using Evolution.Core;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using Evolution.Updates.Population;

namespace Evolution.Agents.Population;

/// <summary>
/// What one agent of a population is, besides what it learns: its base, how sure it must be to keep its own answer
/// without reading its peers (<see cref="AgentTraits.KeepOwnAbove"/>), and how it takes in what it comes to believe.
/// </summary>
public sealed record PopulationMember(int Base, double KeepOwnAbove, UpdateChannel Channel);

/// <summary>One agent's question, with the statements of the peers it read (empty: it answers alone).</summary>
/// <param name="PeerAnswers">The object each peer stated, in the order of <paramref name="Peers"/>: given, an answer read with peers
/// who said otherwise carries its mechanism record (<see cref="PopulationAnswer.Trace"/>); null: no record.</param>
public sealed record PopulationAsk(int Agent, Question Question, IReadOnlyList<string> Peers, IReadOnlyList<string>? PeerAnswers = null);

/// <summary>
/// An agent's answer as indices into the question's candidates: <see cref="Own"/> from its weights and memory alone,
/// <see cref="Final"/> after reading its peers (the same when it did not read them). <see cref="Trace"/> is the mechanism
/// record of an answer read with peers who said otherwise (as a conformity step records it), shared by every agent that
/// read the same text with the same weights.
/// </summary>
public sealed record PopulationAnswer(int Own, double OwnProbability, int Final, double FinalProbability, bool ReadPeers, PeerTrace? Trace = null);

/// <summary>
/// Many agents over a few shared bases. An agent owns only its parametric commits (a delta shared by every agent with
/// the same commits, <see cref="PopulationBase.DeltaOf"/>) and its memory (the statement it stored per fact, latest wins,
/// in the population's one <see cref="PopulationMemory"/>); the bases are read-only. Answers are computed for all asking agents together: identical inputs (same base, same
/// commits, same text read) give identical answers, so each distinct input is scored once, in one batched pass per base
/// in which every row adds its own agent's delta. An agent answers as <see cref="AgentRuntime.Answer"/> does: alone first
/// (with what it retrieves), then, when peers spoke and its own answer is not above its threshold, with their statements.
/// </summary>
public sealed class AgentPopulation
{
    readonly IReadOnlyList<PopulationBase> bases;
    readonly Dictionary<FactRef, string>?[] weights;
    readonly PopulationMemory memory;

    readonly IBeliefSource beliefs;
    readonly Dictionary<(FactRef Fact, string Object), string> statements = [];

    /// <summary>
    /// The update channels an agent on a shared base can have: memory, or an edit whose change is held as a delta of MLP
    /// output projections (AlphaEdit's editor keeps state across an agent's edits, the hybrids route per agent, FT every weight).
    /// </summary>
    public static readonly IReadOnlySet<UpdateChannel> Channels = new HashSet<UpdateChannel> { UpdateChannel.None, UpdateChannel.Rag, UpdateChannel.Rome, UpdateChannel.Memit, UpdateChannel.FtL };

    public static string ChannelNames => string.Join(", ", Channels.Select(UpdatePolicy.NameOf));

    /// <param name="beliefs">Where questions are answered (default: <see cref="InProcessBeliefs"/>).</param>
    /// <param name="memory">Where the agents' memories are kept, empty (default: a store in memory); the caller disposes it.</param>
    public AgentPopulation(IReadOnlyList<PopulationBase> bases, IReadOnlyList<PopulationMember> members, IBeliefSource? beliefs = null, PopulationMemory? memory = null)
    {
        this.beliefs = beliefs ?? new InProcessBeliefs(bases);
        foreach (var (member, i) in members.Select((m, i) => (m, i)))
        {
            if (member.Base < 0 || member.Base >= bases.Count) throw new ArgumentException($"agent {i}: base {member.Base} does not exist ({bases.Count} bases)");
            if (!Channels.Contains(member.Channel))
                throw new ArgumentException($"agent {i}: update channel {UpdatePolicy.NameOf(member.Channel)} cannot live on a shared base (known: {ChannelNames})");
        }
        this.bases = bases;
        Members = members;
        weights = new Dictionary<FactRef, string>?[members.Count];
        this.memory = memory ?? PopulationMemory.InMemory();
    }

    public IReadOnlyList<PopulationMember> Members { get; }

    /// <summary>Questions asked so far (an agent reading its peers asks twice: alone, then with them).</summary>
    public long Asked { get; private set; }

    /// <summary>Distinct (base, parametric state, text) scored so far: what the forwards actually computed.</summary>
    public long Scored { get; private set; }

    /// <summary>Distinct (base, parametric state, text, answers) analysed for mechanism records so far.</summary>
    public long Analyzed { get; private set; }

    /// <summary>Whether answers read with peers who said otherwise carry their mechanism record (when their asks name the
    /// peers' answers); on by default, off only to measure what it costs.</summary>
    public bool RecordsPeerMechanism { get; set; } = true;
    /// <summary>
    /// Whether identical inputs (same base, parametric state and text) are scored once (default). Off, every ask is its own
    /// input: with a source that scores each input in its own forward, the agents answer one at a time, the baseline
    /// `bench --only population` measures batching and sharing against.
    /// </summary>
    public bool SharesInputs { get; set; } = true;

    public IReadOnlyList<PopulationBase> Bases => bases;
    public int Count => Members.Count;

    /// <summary>The sentence that states a fact's object, whoever states it (the relation's canonical statement).</summary>
    public string Statement(FactRef fact, string obj)
    {
        // Asked for every neighbour read at every step: rendered once per fact and object.
        if (!statements.TryGetValue((fact, obj), out var sentence))
            statements[(fact, obj)] = sentence = bases[0].World.CanonicalStatement(RelationCatalogue.Get(fact.Relation)).Render(bases[0].World[fact.Subject].Name, obj.TrimStart());
        return sentence;
    }

    /// <summary>
    /// The agent takes <paramref name="obj"/> in as its belief about the fact through its update channel: the statement
    /// into its memory, or an edit into its weights. Returns false when it cannot (no channel) or already holds it.
    /// </summary>
    public bool Commit(int agent, FactRef fact, string obj) => Commit([(agent, fact, obj)]) > 0;

    /// <summary>
    /// <see cref="Commit(int, FactRef, string)"/> for many, in order; the statements go into memory in one write.
    /// Returns how many were taken in.
    /// </summary>
    public int Commit(IEnumerable<(int Agent, FactRef Fact, string Object)> commits)
    {
        var all = commits.ToList();
        var held = memory.Held([.. all.Where(c => Members[c.Agent].Channel == UpdateChannel.Rag).Select(c => MemoryStatement.IdOf(c.Agent, c.Fact)).ToHashSet()]);
        var remembered = new Dictionary<string, MemoryStatement>();
        int taken = 0;
        foreach (var (agent, fact, obj) in all)
        {
            switch (Members[agent].Channel)
            {
                case UpdateChannel.None: continue;
                case UpdateChannel.Rag:
                    var id = MemoryStatement.IdOf(agent, fact);
                    if ((remembered.GetValueOrDefault(id)?.Object ?? held.GetValueOrDefault(id)) == obj) continue;
                    remembered[id] = new MemoryStatement { Id = id, Agent = agent, Subject = fact.Subject, Relation = fact.Relation, Object = obj, Text = Statement(fact, obj) };
                    break;
                default:
                    var facts = weights[agent] ??= [];
                    if (facts.GetValueOrDefault(fact) == obj) continue;
                    facts[fact] = obj;
                    break;
            }
            taken++;
        }
        var replaced = remembered.Values.ToLookup(s => held.ContainsKey(s.Id));
        if (remembered.Count > 0) memory.Write([.. replaced[false]], [.. replaced[true]]);
        return taken;
    }

    /// <summary>What the agent has taken in about the fact (memory or weights), null for nothing.</summary>
    public string? Committed(int agent, FactRef fact) => Committed([agent], fact)[agent];

    /// <summary>
    /// <see cref="Committed(int, FactRef)"/> of many agents about one fact, by agent. A memory lookup is a database query,
    /// so the memories are read in one, not one per agent (a spread asks after every agent whose peers changed its mind).
    /// </summary>
    public Dictionary<int, string?> Committed(IEnumerable<int> agents, FactRef fact)
    {
        var asked = agents.Distinct().ToList();
        var held = memory.Held([.. asked.Where(a => Members[a].Channel == UpdateChannel.Rag).Select(a => MemoryStatement.IdOf(a, fact))]);
        return asked.ToDictionary(a => a, a => Members[a].Channel switch
        {
            UpdateChannel.None => null,
            UpdateChannel.Rag => held.GetValueOrDefault(MemoryStatement.IdOf(a, fact)),
            _ => weights[a]?.GetValueOrDefault(fact),
        });
    }

    /// <summary>Bytes the agents own beyond the bases: the distinct deltas and the statements in memory (UTF-16).</summary>
    public long OwnedBytes => bases.Sum(b => b.DeltaBytes) + memory.Bytes;

    public IReadOnlyList<PopulationAnswer> Answer(IReadOnlyList<PopulationAsk> asks)
    {
        var retrieved = Retrieve(asks);
        var alone = asks.Select((a, i) => Reading(a.Agent).PromptFor(a.Question, retrieved[i], [])).ToList();
        var own = Score(asks.Select((a, i) => (a.Agent, a.Question, alone[i])).ToList());
        var listening = Enumerable.Range(0, asks.Count)
            .Where(i => asks[i].Peers.Count > 0 && own[i].Max() <= Members[asks[i].Agent].KeepOwnAbove).ToList();
        var prompts = listening.Select(i => Reading(asks[i].Agent).PromptFor(asks[i].Question, retrieved[i], asks[i].Peers)).ToList();
        var withPeers = Score(listening.Select((i, l) => (asks[i].Agent, asks[i].Question, prompts[l])).ToList());
        var traces = RecordsPeerMechanism ? Trace(asks, listening, alone, prompts, own, withPeers) : [];
        var answers = new PopulationAnswer[asks.Count];
        for (int i = 0, l = 0; i < asks.Count; i++)
        {
            int ownTop = ArgMax(own[i]);
            bool read = l < listening.Count && listening[l] == i;
            var final = read ? withPeers[l++] : own[i];
            int top = ArgMax(final);
            answers[i] = new PopulationAnswer(ownTop, own[i][ownTop], top, final[top], read, traces.GetValueOrDefault(i));
        }
        return answers;
    }

    /// <summary>
    /// The mechanism records of the listening answers whose asks name the peers' answers, by ask index (<see cref="PeerRecord"/>:
    /// against the answer most of the peers gave among those that differ from the agent's own). Each distinct (base, delta,
    /// text, answers) is analysed once, under its agent's delta, and the bases' batches go out together.
    /// </summary>
    /// <param name="alone">Per ask, the text its agent read alone; <paramref name="prompts"/>, per listening answer, the text with the peers.</param>
    Dictionary<int, PeerTrace> Trace(IReadOnlyList<PopulationAsk> asks, IReadOnlyList<int> listening, IReadOnlyList<string> alone,
        IReadOnlyList<string> prompts, IReadOnlyList<double[]> own, IReadOnlyList<double[]> withPeers)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var slots = new Dictionary<(int Base, AgentDelta? Delta, string Prompt, string Own, string Peers), (int Base, int At)?>();
        var byBase = new Dictionary<int, List<AgentPeerQuery>>();
        var slotOf = new Dictionary<int, (int Base, int At)>();
        for (int l = 0; l < listening.Count; l++)
        {
            var (i, ask) = (listening[l], asks[listening[l]]);
            if (ask.PeerAnswers is null) continue;
            if (ask.PeerAnswers.Count != ask.Peers.Count) throw new ArgumentException($"agent {ask.Agent}: {ask.PeerAnswers.Count} peer answers for {ask.Peers.Count} peer statements");
            string ownAnswer = ask.Question.Candidates[ArgMax(own[i])].TrimStart();
            if (PeerRecord.PeersAnswer(ownAnswer, ask.PeerAnswers) is not { } peersAnswer) continue;
            int b = Members[ask.Agent].Base;
            var delta = DeltaOf(ask.Agent);
            var key = (b, delta, prompts[l], ownAnswer, peersAnswer);
            if (!slots.TryGetValue(key, out var slot))
            {
                var query = PeerRecord.Query(bases[b].Tokenizer, alone[i], prompts[l], ask.Peers,
                    ask.Question.Candidates, ownAnswer, peersAnswer, withPeers[l]);
                // A delta's record needs the answers' probabilities under the delta, which only the answer has.
                if (query is { LogProbabilities: not null })
                {
                    var batch = byBase.TryGetValue(b, out var queued) ? queued : byBase[b] = [];
                    slot = (b, batch.Count);
                    batch.Add(new AgentPeerQuery(delta, query));
                }
                slots[key] = slot;
            }
            if (slot is { } found) slotOf[i] = found;
        }
        if (byBase.Count == 0) return [];
        var results = beliefs.AnalyzePeers(byBase.ToDictionary(p => p.Key, p => (IReadOnlyList<AgentPeerQuery>)p.Value));
        int analyzed = byBase.Values.Sum(b => b.Count);
        Analyzed += analyzed;
        double seconds = clock.Elapsed.TotalSeconds / analyzed;
        var traces = results.ToDictionary(p => p.Key, p => p.Value.Select(r => PeerRecord.Trace(r, seconds)).ToList());
        return slotOf.ToDictionary(p => p.Key, p => traces[p.Value.Base][p.Value.At]);
    }

    /// <summary>
    /// The agent's conformity circuit as it is now (<see cref="SharedBase.ConformityCircuit"/>), found as a conformity step finds
    /// an agent's (<see cref="Protocols.ConformityHeadSearch"/>): per fact, its own answer alone against up to three other
    /// candidates (a seeded draw), each stated by <paramref name="peers"/> neighbours, read with what it retrieves; the
    /// corruption has them state its own answer. Null when no contrast is usable.
    /// </summary>
    public CircuitHeads? ConformityCircuit(int agent, IReadOnlyList<(FactRef Fact, Question Question)> facts, int peers, int seed)
    {
        var answers = Answer([.. facts.Select(f => new PopulationAsk(agent, f.Question, []))]);
        var reading = Reading(agent);
        var contrasts = new List<ConformityContrast>();
        foreach (var ((fact, question), answer) in facts.Zip(answers))
        {
            var own = question.Candidates[answer.Own];
            var retrieved = Retrieve([new PopulationAsk(agent, question, [])])[0];
            List<string> Stating(string obj) => [.. Enumerable.Repeat(Statement(fact, obj), peers)];
            foreach (var wrong in ConformityCircuits.WrongAnswers(question.Candidates, own, new Random(Seeds.Mix(seed, "circuit-wrong", fact.Subject, fact.Relation))))
                contrasts.Add(new ConformityContrast(reading.PromptFor(question, retrieved, Stating(wrong)), reading.PromptFor(question, retrieved, Stating(own)), own.TrimStart(), wrong.TrimStart()));
        }
        return beliefs.ConformityCircuit(Members[agent].Base, DeltaOf(agent), contrasts);
    }

    AgentReading Reading(int agent) => bases[Members[agent].Base].Reading;

    /// <summary>
    /// Per ask, the statements its agent retrieves for its question: from its own memory only (every agent's memory is in
    /// one store, filtered by agent before anything is ranked), those about the question's subject in relation order, at
    /// most the base profile's top-k. All asks are looked up in one query.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<string>> Retrieve(IReadOnlyList<PopulationAsk> asks)
    {
        var shelves = memory.Shelves(asks.Where(a => Members[a.Agent].Channel == UpdateChannel.Rag).Select(a => (a.Agent, a.Question.Subject)).ToHashSet());
        return [.. asks.Select(a => shelves.TryGetValue((a.Agent, a.Question.Subject), out var held)
            ? (IReadOnlyList<string>)[.. held.Take(bases[Members[a.Agent].Base].Profile.Update.TopK).Select(s => s.Text)] : [])];
    }

    /// <summary>Beliefs over the candidates, each distinct (base, parametric state, text) scored once; the bases' batches go out together.</summary>
    List<double[]> Score(IReadOnlyList<(int Agent, Question Question, string Prompt)> queries)
    {
        var slot = new int[queries.Count];
        var batches = new Dictionary<int, List<AgentQuery>>();
        foreach (var byBase in Enumerable.Range(0, queries.Count).GroupBy(i => Members[queries[i].Agent].Base))
        {
            var distinct = new Dictionary<(AgentDelta? Delta, string Prompt, int Ask), int>();
            var asked = batches[byBase.Key] = [];
            foreach (int i in byBase)
            {
                var delta = DeltaOf(queries[i].Agent);
                var input = (delta, queries[i].Prompt, SharesInputs ? -1 : i);
                if (!distinct.TryGetValue(input, out int at))
                {
                    distinct[input] = at = asked.Count;
                    asked.Add(new AgentQuery(delta, queries[i].Prompt, queries[i].Question.Candidates));
                }
                slot[i] = at;
            }
        }
        var answered = beliefs.Beliefs(batches.ToDictionary(p => p.Key, p => (IReadOnlyList<AgentQuery>)p.Value));
        Asked += queries.Count;
        Scored += batches.Values.Sum(b => b.Count);
        return Enumerable.Range(0, queries.Count).Select(i => answered[Members[queries[i].Agent].Base][slot[i]]).ToList();
    }

    AgentDelta? DeltaOf(int agent)
    {
        var held = weights[agent];
        if (held is null || held.Count == 0) return null;
        var method = UpdatePolicy.NameOf(Members[agent].Channel);
        return bases[Members[agent].Base].DeltaOf(method, held.Select(p => new Commit(p.Key, p.Value)).ToList());
    }

    static int ArgMax(double[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }
}
