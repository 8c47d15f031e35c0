using Evolution.Agents.Protocols;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;

namespace Evolution.Agents.Population;

/// <summary>News that spreads about one fact: the true object, the object it replaces, and the rumour's false object (if any).</summary>
public sealed record SpreadNews(FactRef Fact, string True, string Old, string? Rumour);

/// <summary>
/// A spread's knobs. <paramref name="Seeded"/> and <paramref name="Rumoured"/> are shares of the agents that can learn
/// (those with an update channel) told the true news and the rumour at step 0; <paramref name="Reads"/> is how many
/// neighbours' statements an agent reads per step (a seeded sample when it has more neighbours).
/// </summary>
public sealed record SpreadSettings(IReadOnlyList<SpreadNews> Facts, double Seeded, double Rumoured, int Steps, int Reads, int Seed);

/// <summary>
/// What every agent did about one fact at one step, indexed by agent: the candidate index it stated, what it answered
/// alone, whether it read its peers, and what it committed through its update channel (-1: nothing).
/// </summary>
public sealed record SpreadFactRound(int[] Stated, int[] Own, bool[] ReadPeers, int[] Committed);

/// <summary>
/// One step of a spread: per fact (in <see cref="SpreadSettings.Facts"/> order), what every agent did; and the mechanism
/// records of the answers read with neighbours who said otherwise (each shared by the agents that read the same text with
/// the same weights; none at step 0, where nobody reads).
/// </summary>
public sealed record SpreadRound(int Step, IReadOnlyList<SpreadFactRound> Facts, IReadOnlyList<SpreadTrace>? Traces = null);

/// <summary>The mechanism record of fact <see cref="Fact"/>'s answers given by <see cref="Agents"/> (ascending) at one step.</summary>
public sealed record SpreadTrace(int Fact, IReadOnlyList<int> Agents, PeerTrace Trace);

/// <summary>Where a spread's finished steps are kept, so that a killed run resumes from the last one.</summary>
public interface ISpreadLog
{
    /// <summary>The finished steps, in order from step 0.</summary>
    IReadOnlyList<SpreadRound> Rounds();

    /// <summary>Stores a finished step atomically (all of it or nothing).</summary>
    void Write(SpreadRound round);
}

/// <summary>
/// What a spread asks and who reads whom, fixed before any model runs: each fact's question, the seeded order in which
/// agents are told the news, and the neighbours each agent reads at each step. The spread and its metrics (recomputed
/// from the run database) share it, so they cannot disagree.
/// </summary>
public sealed class SpreadPlan
{
    readonly IReadOnlyList<PopulationMember> members;

    public SpreadPlan(World world, IReadOnlyList<PopulationMember> members, IReadOnlyList<int>[] network, SpreadSettings settings)
    {
        if (network.Length != members.Count) throw new ArgumentException($"the network has {network.Length} nodes for {members.Count} agents");
        (this.members, Network, Settings) = (members, network, settings);
        Questions = settings.Facts.Select(f =>
        {
            var relation = RelationCatalogue.Get(f.Fact.Relation);
            return new Question(f.Fact.Subject, f.Fact.Relation, world.CanonicalQuestion(relation).Prompt(world[f.Fact.Subject].Name), world.CandidateAnswers(relation.ObjectType));
        }).ToList();
        for (int f = 0; f < settings.Facts.Count; f++)
            foreach (var obj in new[] { settings.Facts[f].True, settings.Facts[f].Old, settings.Facts[f].Rumour }.OfType<string>()) IndexOf(f, obj);
    }

    public IReadOnlyList<int>[] Network { get; }
    public SpreadSettings Settings { get; }

    /// <summary>Each fact's question, asked the same way of every agent (the relation's canonical question).</summary>
    public IReadOnlyList<Question> Questions { get; }

    /// <summary>Agents with an update channel, in a seeded order: the first share are told the news, the next the rumour.</summary>
    public IReadOnlyList<int> SeedOrder()
    {
        var learners = Enumerable.Range(0, members.Count).Where(a => members[a].Channel is not UpdateChannel.None).ToArray();
        new Random(Seeds.Mix(Settings.Seed, "spread-seeding")).Shuffle(learners);
        return learners;
    }

    /// <summary>
    /// The neighbours whose statements <paramref name="agent"/> reads at <paramref name="step"/> about fact
    /// <paramref name="f"/>: all of them when they are at most <see cref="SpreadSettings.Reads"/>, else a seeded sample;
    /// in ascending order (the order they are read in).
    /// </summary>
    public IReadOnlyList<int> Read(int step, int agent, int f)
    {
        var neighbours = Network[agent];
        if (neighbours.Count <= Settings.Reads) return neighbours;
        var sample = neighbours.ToArray();
        new Random(Seeds.Mix(Settings.Seed, "spread-reads", step, agent, f)).Shuffle(sample);
        return sample.Take(Settings.Reads).Order().ToList();
    }

    /// <summary>
    /// The agents whose conformity circuits are followed through the spread, <paramref name="perChannel"/> of each update channel:
    /// of each channel that can learn, the first in <see cref="SeedOrder"/> (the told ones, when the share told reaches them); of
    /// the agents without one, the first in a seeded order. Ascending.
    /// </summary>
    public IReadOnlyList<int> CircuitAgents(int perChannel)
    {
        var unable = Enumerable.Range(0, members.Count).Where(a => members[a].Channel is UpdateChannel.None).ToArray();
        new Random(Seeds.Mix(Settings.Seed, "spread-circuit-agents")).Shuffle(unable);
        return [.. SeedOrder().GroupBy(a => members[a].Channel).SelectMany(g => g.Take(perChannel)).Concat(unable.Take(perChannel)).Order()];
    }

    /// <summary>The candidate index of an object of fact <paramref name="f"/>'s question.</summary>
    public int IndexOf(int f, string obj)
    {
        int i = Questions[f].Candidates.ToList().FindIndex(c => c.Trim() == obj.Trim());
        return i >= 0 ? i : throw new ArgumentException($"'{obj.Trim()}' is not a candidate answer of \"{Questions[f].Prompt}\"");
    }
}

/// <summary>
/// Information diffusion through a population on a social network, as social-media simulators run it. At step 0 a
/// share of the agents learns the news through its update channel, and a rumour group learns a false object for the
/// same facts; then everyone states what it believes. At every step t ≥ 1 each agent reads what (up to
/// <see cref="SpreadSettings.Reads"/> of) its neighbours stated at t − 1, answers (alone first; with their statements
/// when it is not sure enough of its own, <see cref="PopulationMember.KeepOwnAbove"/>), states its answer, and commits it
/// through its channel when reading its peers changed its mind. Steps are synchronous: every agent answers from the
/// state the previous step left, and commits are taken in after all have answered.
/// </summary>
public sealed class Spread(AgentPopulation population, SpreadPlan plan)
{
    readonly SpreadSettings settings = plan.Settings;
    readonly IReadOnlyList<Question> questions = plan.Questions;

    public SpreadPlan Plan => plan;

    /// <summary>
    /// Runs the steps <paramref name="log"/> does not hold yet, after re-taking in what the logged steps committed (a
    /// killed run resumes where it stopped: answers depend only on what was committed before). Returns every round.
    /// </summary>
    public IReadOnlyList<SpreadRound> Run(ISpreadLog log, Action<SpreadRound>? progress = null)
    {
        if (plan.Network.Length != population.Count) throw new ArgumentException($"the network has {plan.Network.Length} nodes for {population.Count} agents");
        var rounds = log.Rounds().ToList();
        foreach (var round in rounds) TakeIn(round);
        for (int step = rounds.Count; step <= settings.Steps; step++)
        {
            var round = step == 0 ? Seed() : Step(step, rounds[^1]);
            TakeIn(round);
            log.Write(round);
            rounds.Add(round);
            progress?.Invoke(round);
        }
        return rounds;
    }

    SpreadRound Seed()
    {
        var order = plan.SeedOrder();
        int told = (int)Math.Round(settings.Seeded * order.Count), rumoured = (int)Math.Round(settings.Rumoured * order.Count);
        var committed = settings.Facts.Select(_ => Enumerable.Repeat(-1, population.Count).ToArray()).ToList();
        for (int f = 0; f < settings.Facts.Count; f++)
        {
            var fact = settings.Facts[f];
            foreach (int agent in order.Take(told)) committed[f][agent] = plan.IndexOf(f, fact.True);
            if (fact.Rumour is not null)
                foreach (int agent in order.Skip(told).Take(rumoured)) committed[f][agent] = plan.IndexOf(f, fact.Rumour);
        }
        TakeIn(committed);
        return Answer(0, settings.Facts.Select((_, f) => Enumerable.Range(0, population.Count).Select(a => new PopulationAsk(a, questions[f], [])).ToList()).ToList(), committed);
    }

    SpreadRound Step(int step, SpreadRound previous) => Answer(step, Asks(step, previous), null);

    /// <summary>What every agent is asked at <paramref name="step"/> ≥ 1, per fact: its question, with what the neighbours it reads stated at the previous step.</summary>
    public IReadOnlyList<List<PopulationAsk>> Asks(int step, SpreadRound previous) =>
        settings.Facts.Select((fact, f) => Enumerable.Range(0, population.Count).Select(agent =>
        {
            var stated = plan.Read(step, agent, f).Select(n => questions[f].Candidates[previous.Facts[f].Stated[n]]).ToList();
            return new PopulationAsk(agent, questions[f], [.. stated.Select(o => population.Statement(fact.Fact, o))], stated);
        }).ToList()).ToList();

    SpreadRound Answer(int step, IReadOnlyList<List<PopulationAsk>> asks, List<int[]>? seeded)
    {
        var answers = population.Answer(asks.SelectMany(a => a).ToList());
        var facts = new List<SpreadFactRound>();
        var traces = new List<SpreadTrace>();
        for (int f = 0, at = 0; f < asks.Count; f++)
        {
            var mine = answers.Skip(at).Take(asks[f].Count).ToList();
            at += asks[f].Count;
            // Agents that read the same text with the same weights share one record instance.
            traces.AddRange(Enumerable.Range(0, mine.Count).Where(a => mine[a].Trace is not null).GroupBy(a => mine[a].Trace!, ReferenceEqualityComparer.Instance)
                .Select(g => new SpreadTrace(f, g.ToList(), mine[g.First()].Trace!)));
            // Reading its peers changed its mind: it takes the new belief in (if its channel can and it does not hold it yet).
            // What those agents hold is read for all of them at once: one memory query per fact, not one per agent.
            var held = seeded is not null ? [] : population.Committed(Enumerable.Range(0, mine.Count)
                .Where(agent => mine[agent].ReadPeers && mine[agent].Final != mine[agent].Own && population.Members[agent].Channel is not UpdateChannel.None), settings.Facts[f].Fact);
            var committed = seeded?[f] ?? mine.Select((a, agent) =>
                held.TryGetValue(agent, out var holds) && holds != questions[f].Candidates[a.Final] ? a.Final : -1).ToArray();
            facts.Add(new SpreadFactRound(mine.Select(a => a.Final).ToArray(), mine.Select(a => a.Own).ToArray(), mine.Select(a => a.ReadPeers).ToArray(), committed));
        }
        return new SpreadRound(step, facts, traces);
    }

    /// <summary>Takes in what a round committed (seeding is taken in before step 0's answers; re-committing is a no-op).</summary>
    void TakeIn(SpreadRound round) => TakeIn([.. round.Facts.Select(f => f.Committed)]);

    /// <summary>Takes in, per fact, what each agent committed (-1: nothing), all in one write to memory.</summary>
    void TakeIn(IReadOnlyList<int[]> committed) => population.Commit(
        from f in Enumerable.Range(0, committed.Count)
        from agent in Enumerable.Range(0, population.Count)
        where committed[f][agent] >= 0
        select (agent, settings.Facts[f].Fact, questions[f].Candidates[committed[f][agent]]));
}
