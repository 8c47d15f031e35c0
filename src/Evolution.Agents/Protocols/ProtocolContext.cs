using Evolution.Agents.Recording;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;

namespace Evolution.Agents.Protocols;

/// <summary>A fact a step asks about.</summary>
public sealed record FactRef(int Subject, string Relation)
{
    public override string ToString() => $"{Subject}:{Relation}";
}

/// <summary>
/// What protocols share: the group, the recorder, the world and the current epoch, and the rules
/// that make a run reproducible: every question, peer sentence and sample is seeded by the scenario
/// seed and the event's place; answers already recorded (a resumed run) are read back, not recomputed.
/// </summary>
public sealed class ProtocolContext(IAgentGroup group, IEventSink sink, World world, int seed, IReadOnlyDictionary<string, AgentProfile> profiles,
    IProgress<string>? progress = null)
{
    public IAgentGroup Group { get; } = group;
    public IEventSink Sink { get; } = sink;
    public World World { get; } = world;
    public int Seed { get; } = seed;
    public IReadOnlyDictionary<string, AgentProfile> Profiles { get; } = profiles;
    /// <summary>The world's epoch: truth for every question; moved on by news steps.</summary>
    public int Epoch { get; set; }
    /// <summary>Facts of the latest debate (what a consolidation step commits).</summary>
    public IReadOnlyList<FactRef> LastDebateFacts { get; set; } = [];
    public int LastDebateStep { get; set; } = -1;

    public void Report(string message) => progress?.Report(message);

    public IReadOnlyList<string> Participants(ProtocolStep step) => step.Agents ?? Group.Agents;

    public IReadOnlyList<FactRef> Select(FactSelection selection, int step)
    {
        var facts = World.FactsAt(Epoch).Where(f => selection.Relation is null || f.Relation == selection.Relation).Select(f => new FactRef(f.Subject, f.Relation));
        switch (selection.Kind)
        {
            case "all":
                return facts.ToList();
            case "news":
                return World.Changes.Where(c => c.Epoch == Epoch && (selection.Relation is null || c.Relation == selection.Relation))
                    .Select(c => new FactRef(c.Subject, c.Relation)).Take(selection.Count > 0 ? selection.Count : int.MaxValue).ToList();
            case "misinformed":
                var profile = Profiles[selection.Agent!];
                return CorpusBuilder.Build(World, profile.Data, profile.Training.Seed).Misinformation
                    .Select(f => new FactRef(f.Subject, f.Relation)).Take(selection.Count > 0 ? selection.Count : int.MaxValue).ToList();
            default:
                var all = facts.ToArray();
                new Random(Seeds.Mix(Seed, "facts", step)).Shuffle(all);
                return all.Take(selection.Count).ToList();
        }
    }

    /// <summary>The question for a fact: one training query template per fact for the whole run, so rounds and steps are comparable.</summary>
    public Question QuestionFor(FactRef fact)
    {
        var relation = RelationCatalogue.Get(fact.Relation);
        var templates = World.TrainingTemplates(relation).Where(t => t.IsQuery).ToList();
        var template = templates[(int)((uint)Seeds.Mix(Seed, "question", fact.Subject, fact.Relation) % (uint)templates.Count)];
        return new Question(fact.Subject, fact.Relation, template.Prompt(World[fact.Subject].Name), World.CandidateAnswers(relation.ObjectType));
    }

    public string Truth(FactRef fact) => " " + World[World.ObjectOf(fact.Subject, fact.Relation, Epoch)].Name;

    /// <summary>The object before this fact's latest change up to the current epoch, if it changed.</summary>
    public string? Previous(FactRef fact)
    {
        var change = World.Changes.LastOrDefault(c => c.Subject == fact.Subject && c.Relation == fact.Relation && c.Epoch <= Epoch);
        return change is null ? null : " " + World[change.OldObject].Name;
    }

    /// <summary>A statement sentence saying <paramref name="answer"/> (with its leading space) about the fact, as a peer would say it.</summary>
    public string Sentence(FactRef fact, string answer, string speaker, int round)
    {
        var relation = RelationCatalogue.Get(fact.Relation);
        var templates = World.TrainingTemplates(relation).Where(t => t.Kind == TemplateKind.Statement).ToList();
        var template = templates[(int)((uint)Seeds.Mix(Seed, "sentence", speaker, fact.Subject, fact.Relation, round) % (uint)templates.Count)];
        return template.Render(World[fact.Subject].Name, answer.TrimStart());
    }

    /// <summary>A news item telling the fact's object at the current epoch.</summary>
    public NewsItem News(FactRef fact, string obj) =>
        new(fact.Subject, fact.Relation, obj, Epoch, Sentence(fact, obj, "news", 0), QuestionFor(fact).Prompt);

    /// <summary>One request in a round: an agent, a fact, and what it hears.</summary>
    /// <param name="Intervention">What the answer runs under (null: the agent's intervention for the step in <see cref="Interventions"/>, if any).</param>
    public sealed record Request(string Agent, FactRef Fact, IReadOnlyList<PeerStatement> Peers, Mechanisms.Intervention? Intervention = null);

    /// <summary>Per agent, the intervention the current step's answers run under (set by <see cref="StepRunner"/>; empty: none).</summary>
    public IReadOnlyDictionary<string, Mechanisms.Intervention> Interventions { get; set; } = new Dictionary<string, Mechanisms.Intervention>();

    /// <summary>
    /// Asks for every request's answer (agents in parallel, each agent's questions in one batch),
    /// records each as an <see cref="AnswerEvent"/>, and returns them in request order. Answers the
    /// recorder already has (from before a resume) are returned as recorded.
    /// </summary>
    public async Task<IReadOnlyList<AnswerEvent>> Ask(int step, string protocol, string condition, int round, IReadOnlyList<Request> requests)
    {
        string Id(Request r) => $"{step}/{protocol}/{condition}/{round}/{r.Agent}/{r.Fact}";
        var results = new AnswerEvent?[requests.Count];
        for (int i = 0; i < requests.Count; i++) results[i] = Sink.Recorded(Id(requests[i]));
        var missing = Enumerable.Range(0, requests.Count).Where(i => results[i] is null).GroupBy(i => requests[i].Agent).ToList();
        await Task.WhenAll(missing.Select(async byAgent =>
        {
            var indices = byAgent.ToList();
            Mechanisms.Intervention? Under(Request r) => r.Intervention ?? Interventions.GetValueOrDefault(r.Agent);
            var items = indices.Select(i => new AskItem(QuestionFor(requests[i].Fact), requests[i].Peers, Under(requests[i]))).ToList();
            var answers = await Group.Ask(byAgent.Key, $"{step}/{protocol}/{condition}/{round}/{byAgent.Key}", items);
            for (int j = 0; j < indices.Count; j++)
            {
                var request = requests[indices[j]];
                var answer = answers[j];
                string truth = Truth(request.Fact);
                string? previous = Previous(request.Fact);
                var e = new AnswerEvent
                {
                    Id = Id(request), Step = step, Protocol = protocol, Condition = condition, Round = round, Agent = request.Agent,
                    Subject = request.Fact.Subject, Relation = request.Fact.Relation, Epoch = Epoch, Truth = truth, Previous = previous,
                    Answer = answer.Answer, Probability = answer.Probability, TruthProbability = answer.Distribution[truth],
                    PreviousProbability = previous is null ? 0 : answer.Distribution[previous],
                    OwnAnswer = answer.OwnAnswer, OwnProbability = answer.OwnProbability, ReadPeers = answer.ReadPeers,
                    Peers = request.Peers.Count, WrongPeers = request.Peers.Count(p => p.Answer != truth),
                    PeerConsensus = request.Peers.Count > 0 && request.Peers.All(p => p.Answer == request.Peers[0].Answer) ? request.Peers[0].Answer : null,
                    PeerMajority = request.Peers.GroupBy(p => p.Answer).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal).Select(g => g.Key).FirstOrDefault(),
                    Retrieved = [.. answer.Retrieved],
                    Seconds = answer.Seconds, PeerTrace = PeerTraceRecord.Of(answer.PeerTrace), Intervention = Under(request)?.Describe(),
                    Node = answer.Node,
                };
                Sink.Record(e);
                results[indices[j]] = e;
            }
        }));
        return results!;
    }

    /// <summary>Marks a step finished once everything it recorded is written.</summary>
    public async Task Finish(ProtocolStep step)
    {
        await Sink.Flush();
        Sink.Record(new StepEvent { Id = $"step/{step.Index}", Step = step.Index, Protocol = step.Protocol, Finished = DateTime.UtcNow });
        await Sink.Flush();
    }
}
