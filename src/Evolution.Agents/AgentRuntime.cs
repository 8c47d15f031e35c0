using System.Diagnostics;
using Evolution.Core.Agents;
using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Agents.Protocols;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using Evolution.Updates;

namespace Evolution.Agents;

/// <summary>
/// One agent without the actor around it: its model, tokenizer, memory and editor, and the two
/// things it does, answer and learn. Everything an <see cref="AgentActor"/> does goes through here,
/// so protocols and policies are testable without an ActorSystem.
/// </summary>
public sealed class AgentRuntime : IDisposable
{
    readonly CandidateRanker ranker;
    readonly IStatementMemory? memory;
    readonly EditorCorpus editorCorpus;
    readonly AgentReading reading;
    /// <summary>AlphaEdit's editor, kept for the agent's life: it remembers the keys of all news written so far and leaves them alone.</summary>
    IKnowledgeEditor? lifelongEditor;

    public string Name { get; }
    public AgentProfile Profile { get; }
    public World World { get; }
    public Gpt Model { get; }
    public ITextTokenizer Tokenizer { get; }
    /// <summary>Whether answers read with peers who said otherwise carry their mechanism record (<see cref="PeerTrace"/>); on by
    /// default, off only to measure what it costs (<c>bench --only circuit</c>).</summary>
    public bool RecordsPeerMechanism { get; set; } = true;

    /// <summary>What an agent is made of, besides its memory.</summary>
    public sealed record Parts(Gpt Model, ITextTokenizer Tokenizer, World World, AgentProfile Profile);

    public AgentRuntime(string name, Parts parts, IStatementMemory? memory)
    {
        Name = name;
        (Model, Tokenizer, World, Profile) = (parts.Model, parts.Tokenizer, parts.World, parts.Profile);
        var model = Model;
        var tokenizer = Tokenizer;
        var profile = Profile;
        this.memory = memory;
        editorCorpus = EditorCorpus.Of(World, Profile.Data, Profile.Training.Seed);
        ranker = new CandidateRanker(model, tokenizer);
        reading = new AgentReading(World, Tokenizer, Profile, Model.Config.ContextLength);
        if (profile.Update.UsesMemory && memory is null)
            throw new ArgumentException($"agent {name}: update policy {UpdatePolicy.NameOf(profile.Update.Channel)} needs a memory");
    }

    /// <summary>
    /// Answers from weights and memory (retrieved statements as "Context: … Q: … A:", the format of
    /// the agent's training context lines); then, if peers spoke and the agent is not confident
    /// enough to keep its own answer (probability not above <see cref="AgentTraits.KeepOwnAbove"/>),
    /// answers again with the peers' statements added to the context. Batched over items.
    /// </summary>
    public IReadOnlyList<AgentAnswer> Answer(IReadOnlyList<AskItem> items)
    {
        if (items.Any(i => i.Intervention is not null))
        {
            // Each intervention's items run as one batch under its hooks; the answers go back in the items' order.
            var answers = new AgentAnswer[items.Count];
            foreach (var group in Enumerable.Range(0, items.Count).GroupBy(i => items[i].Intervention))
            {
                var indices = group.ToList();
                foreach (var (i, answer) in indices.Zip(AnswerUnder(indices.Select(i => items[i]).ToList(), group.Key))) answers[i] = answer;
            }
            return answers;
        }
        return AnswerUnder(items, null);
    }

    IReadOnlyList<AgentAnswer> AnswerUnder(IReadOnlyList<AskItem> items, Intervention? intervention)
    {
        var clock = Stopwatch.StartNew();
        var (retrieved, alone, own) = OwnAnswers(items.Select(i => i.Question).ToList(), intervention);
        var readPeers = items.Select((item, i) => item.Peers.Count > 0 && own[i].Max() <= Profile.Traits.KeepOwnAbove).ToList();
        var listening = Enumerable.Range(0, items.Count).Where(i => readPeers[i]).ToList();
        var prompts = listening.Select(i => PromptFor(items[i].Question, retrieved[i], items[i].Peers.Select(p => p.Sentence).ToList())).ToList();
        var withPeers = Distributions(listening.Select((i, j) => (prompts[j], items[i].Question.Candidates)).ToList(), intervention,
            intervention is { PeerAttention: true } ? listening.Select((i, j) => PeerSpan(prompts[j], items[i].Peers)).ToList() : null);
        double seconds = clock.Elapsed.TotalSeconds / Math.Max(1, items.Count);
        // The mechanism record reads the agent as it is: an intervened answer is a counterfactual probe, recorded by its intervention's name.
        var traces = intervention is not null || !RecordsPeerMechanism ? []
            : TracePeers([.. listening.Select((i, j) => (i, items[i], alone[i], prompts[j], items[i].Question.Candidates[ArgMax(own[i])], withPeers[j]))]);
        return items.Select((item, i) =>
        {
            var candidates = item.Question.Candidates;
            int ownTop = ArgMax(own[i]);
            var final = readPeers[i] ? withPeers[listening.IndexOf(i)] : own[i];
            int top = ArgMax(final);
            var distribution = candidates.Select((c, j) => (c, p: final[j])).ToDictionary(x => x.c, x => x.p);
            return new AgentAnswer(Name, candidates[top], final[top], candidates[ownTop], own[i][ownTop], readPeers[i], retrieved[i], distribution, seconds,
                traces.GetValueOrDefault(i));
        }).ToList();
    }

    /// <summary>
    /// The token positions [start, end) of the peers' statements in a prompt the agent reads (after its start token), as the
    /// rows of its forward passes hold them; (0, 0) when none fit. Word boundaries are token boundaries, as <see cref="FactPrompt"/> relies on.
    /// </summary>
    (int Start, int End) PeerSpan(string prompt, IReadOnlyList<PeerStatement> peers)
    {
        if (PeerRecord.PeerText(prompt, [.. peers.Select(p => p.Sentence)]) is not var (at, text)) return (0, 0);
        int start = Tokenizer.PromptStart.Count;
        return (start + Tokenizer.Encode(prompt[..at].TrimEnd()).Length, start + Tokenizer.Encode(prompt[..(at + text.Length)]).Length);
    }

    /// <summary>
    /// The mechanism records of answers read with peers (<see cref="PeerPressure"/>, all in one batched analysis), by the answer's
    /// index, each against the answer most of the peers gave among those that differ from the agent's own
    /// (<see cref="PeerRecord"/>); none when every peer agreed with the agent or the record has nothing to split.
    /// </summary>
    /// <param name="answers">Per answer, the texts it was scored on (alone and with the peers): the record splits what was read,
    /// so it takes them as they were, not rebuilt.</param>
    Dictionary<int, PeerTrace> TracePeers(IReadOnlyList<(int Index, AskItem Item, string Alone, string WithPeersPrompt, string OwnAnswer, double[] WithPeers)> answers)
    {
        var clock = Stopwatch.StartNew();
        var queries = new List<(int Index, PeerQuery Query)>();
        foreach (var (index, item, alone, withPeersPrompt, ownAnswer, withPeers) in answers)
        {
            if (PeerRecord.PeersAnswer(ownAnswer, item.Peers.Select(p => p.Answer)) is not { } peersAnswer) continue;
            if (PeerRecord.Query(Tokenizer, alone, withPeersPrompt, [.. item.Peers.Select(p => p.Sentence)],
                    item.Question.Candidates, ownAnswer, peersAnswer, withPeers) is { } query)
                queries.Add((index, query));
        }
        if (queries.Count == 0) return [];
        var results = PeerPressure.AnalyzeMany(Model, Tokenizer, [.. queries.Select(q => q.Query)]);
        double seconds = clock.Elapsed.TotalSeconds / queries.Count;
        return queries.Zip(results).ToDictionary(x => x.First.Index, x => PeerRecord.Trace(x.Second, seconds));
    }

    /// <summary>
    /// What the agent reads and believes before any peer speaks: its retrieved statements, the text it reads alone, and its
    /// distribution over the candidates. The adaptive channel first asks its weights alone and retrieves only where they are not sure
    /// (<see cref="UpdatePolicy.AnswerAloneAbove"/>, Mallen et al.'s adaptive retrieval) or where it was told news about the asked
    /// fact: confidence alone cannot tell a firmly held stale fact from a firmly held true one, and the facts it told its
    /// memory are the ones its weights still hold stale. The others retrieve for every question.
    /// </summary>
    (List<IReadOnlyList<string>> Retrieved, List<string> Alone, List<double[]> Own) OwnAnswers(IReadOnlyList<Question> questions, Intervention? intervention = null)
    {
        if (Profile.Update.Channel is not UpdateChannel.Adaptive)
        {
            var retrieved = questions.Select(Retrieve).ToList();
            var prompts = questions.Select((q, i) => PromptFor(q, retrieved[i], [])).ToList();
            return (retrieved, prompts, Distributions(questions.Select((q, i) => (prompts[i], q.Candidates)).ToList(), intervention));
        }
        var alone = questions.Select(q => q.Prompt).ToList();
        var own = Distributions(questions.Select((q, i) => (alone[i], q.Candidates)).ToList(), intervention);
        var unsure = Enumerable.Range(0, questions.Count)
            .Where(i => own[i].Max() <= Profile.Update.AnswerAloneAbove || questions[i].Subject >= 0 && memory!.Holds(questions[i].Subject, questions[i].Relation)).ToList();
        var found = unsure.ToDictionary(i => i, i => Retrieve(questions[i]));
        foreach (int i in unsure) alone[i] = PromptFor(questions[i], found[i], []);
        var read = Distributions(unsure.Select(i => (alone[i], questions[i].Candidates)).ToList(), intervention);
        foreach (var (i, distribution) in unsure.Zip(read)) own[i] = distribution;
        return (questions.Select((_, i) => found.GetValueOrDefault(i) ?? []).ToList(), alone, own);
    }

    /// <summary>
    /// The adaptive channel's decision for one piece of news: into the weights when the weights already answer the news
    /// prompt with probability above <see cref="UpdatePolicy.RouteAbove"/> (knowledge the model holds firmly, where a retrieved
    /// statement has to fight the stale weights), into memory otherwise (the long tail, where retrieval helps most; the
    /// survey's split between parametric and retrieved knowledge).
    /// </summary>
    public bool WritesToWeights(NewsItem news)
    {
        var candidates = World.CandidateAnswers(RelationCatalogue.Get(news.Relation).ObjectType);
        return Distributions([(news.Prompt, candidates)])[0].Max() > Profile.Update.RouteAbove;
    }

    /// <summary>Takes news in through the agent's update policy: into memory, into the weights, or both.</summary>
    public UpdateOutcome Learn(IReadOnlyList<NewsItem> news)
    {
        var clock = Stopwatch.StartNew();
        var channel = Profile.Update.Channel;
        long bytes = 0;
        if (channel is UpdateChannel.None || news.Count == 0)
            return new UpdateOutcome(Name, UpdatePolicy.NameOf(channel), false, 0, clock.Elapsed.TotalSeconds);
        if (channel is UpdateChannel.Rag or UpdateChannel.Hybrid)
            foreach (var item in news) bytes += memory!.Add(item);
        if (channel is UpdateChannel.Adaptive)
            foreach (var item in news) bytes += WritesToWeights(item) ? Edit(EditorFor("rome"), [item]) : memory!.Add(item);
        if (channel is UpdateChannel.Rome or UpdateChannel.Hybrid)
            foreach (var item in news) bytes += Edit(EditorFor("rome"), [item]);
        if (channel is UpdateChannel.Memit)
            bytes += Edit(EditorFor("memit"), news);
        if (channel is UpdateChannel.AlphaEdit)
            bytes += Edit(lifelongEditor ??= EditorFor("alphaedit"), news);
        if (channel is UpdateChannel.FtL)
            bytes += Edit(EditorFor("ft-l"), news);
        return new UpdateOutcome(Name, UpdatePolicy.NameOf(channel), true, bytes, clock.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// The editor an agent writes its weights with, by method name (rome, memit, alphaedit, ft-l, ft), with the method's documented
    /// defaults (<see cref="KnowledgeEditors"/>, the same as <c>edit</c>'s); the corpus and its key statistics are shared.
    /// </summary>
    public IKnowledgeEditor EditorFor(string method, EditorOverrides? overrides = null) => KnowledgeEditors.Create(method, Model.Config, editorCorpus, overrides);

    /// <summary>
    /// Greedy text from a prompt, read as the agent reads a question: with its retrieved statements
    /// in front ("Context: … prompt") when it retrieves. Used for fluency.
    /// </summary>
    public string Generate(string prompt, int maxTokens, string? stopAt = null)
    {
        var question = new Question(-1, "", prompt, [""]);
        var text = PromptFor(question, Retrieve(question), []);
        return ranker.Generate(text, maxTokens, stopAt);
    }

    bool Retrieves => memory is not null && Profile.Update.UsesMemory;

    IReadOnlyList<string> Retrieve(Question question) => Retrieves ? memory!.Retrieve(question, Profile.Update.TopK, Profile.Update.Scope) : [];

    /// <summary>Hidden states of the last token of each name, per layer, for representation convergence.</summary>
    public IReadOnlyList<(string Hook, double[][] Features)> Residuals(IReadOnlyList<string> names) =>
        LinearProbes.EntityResiduals(Model, Tokenizer, names);

    /// <summary>The agent's EAP-IG circuit for each fact's object at <paramref name="epoch"/> (null where no corruption partner exists).</summary>
    public IReadOnlyList<Circuit?> Circuits(IReadOnlyList<FactRef> facts, int epoch, double edgeFraction) =>
        FactCircuits.For(Model, Tokenizer, World, facts.Select(f => new Fact(f.Subject, f.Relation, World.ObjectOf(f.Subject, f.Relation, epoch))).ToList(), epoch, edgeFraction);

    /// <summary>
    /// The agent's heads ranked by their effect towards a wrong majority (<see cref="ConformityCircuits"/>: EAP-IG on the probes as
    /// the agent reads them, its retrieved statements included, with the confederates stating its own answer as the corruption).
    /// </summary>
    public ConformityHeadsFound ConformityHeads(string key, IReadOnlyList<ConformityProbe> probes)
    {
        var (retrieved, _, _) = OwnAnswers(probes.Select(p => p.Question).ToList());
        var contrasts = probes.Select((p, i) => new ConformityContrast(PromptFor(p.Question, retrieved[i], p.WrongPeers), PromptFor(p.Question, retrieved[i], p.OwnPeers),
            p.OwnAnswer.TrimStart(), p.PeersAnswer.TrimStart())).ToList();
        var result = ConformityCircuits.Find(Model, Tokenizer, contrasts);
        return new ConformityHeadsFound(key, Name, result.Heads, result.Used);
    }

    long Edit(IKnowledgeEditor editor, IReadOnlyList<NewsItem> news)
    {
        var requests = news.Select(n => new EditRequest(n.Prompt, World[n.Subject].Name, n.Object.TrimStart(), EditEvaluation.EssencePrompts(World, n.Subject, n.Relation))).ToList();
        using var delta = editor.ComputeDelta(Model, Tokenizer, requests);
        delta.Apply(Model);
        return delta.Bytes;
    }

    /// <summary>The text the agent reads for a question (<see cref="AgentReading.PromptFor"/>).</summary>
    public string PromptFor(Question question, IReadOnlyList<string> retrieved, IReadOnlyList<string> peers) =>
        reading.PromptFor(question, retrieved, peers);

    /// <summary>Softmax over the candidates' sequence log-probabilities: the agent's belief restricted to the possible answers.</summary>
    /// <param name="intervention">Hooks every forward runs under (null: none).</param>
    /// <param name="peerSpans">Per query, where the peers' statements sit (for an intervention on the attention paid to them).</param>
    List<double[]> Distributions(IReadOnlyList<(string Prompt, IReadOnlyList<string> Candidates)> queries, Intervention? intervention = null,
        IReadOnlyList<(int Start, int End)>? peerSpans = null)
    {
        if (queries.Count == 0) return [];
        RowHooks? hooks = null;
        if (intervention is not null)
        {
            var means = intervention is { PeerAttention: false, Kind: HeadAblation.Mean } ? MeanHeadOutputs : null;
            hooks = rows => intervention.Hooks(Model.Config, means, peerSpans is null ? null : rows.Select(q => peerSpans[q]).ToList());
        }
        return ranker.ScoreMany(queries, hooks).Select(CandidateRanker.Softmax).ToList();
    }

    /// <summary>
    /// What mean ablation puts in place of a head: its mean output over the agent's own questions alone, the world's query for
    /// each of up to 64 facts (the first of a shuffle seeded by the agent's training seed), as the agent reads them.
    /// </summary>
    IReadOnlyList<TorchSharp.torch.Tensor> MeanHeadOutputs => meanHeadOutputs ??= Intervention.MeanHeadOutputs(Model, Tokenizer, ReferencePrompts());
    IReadOnlyList<TorchSharp.torch.Tensor>? meanHeadOutputs;

    List<string> ReferencePrompts()
    {
        var facts = World.FactsAt(0).ToArray();
        new Random(Core.Seeds.Mix(Profile.Training.Seed, "mean-ablation")).Shuffle(facts);
        return facts.Take(64).Select(f => World.CanonicalQuestion(RelationCatalogue.Get(f.Relation)).Prompt(World[f.Subject].Name)).ToList();
    }

    static int ArgMax(double[] values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        foreach (var t in meanHeadOutputs ?? []) t.Dispose();
        Model.Dispose();
        memory?.Dispose();
    }
}
