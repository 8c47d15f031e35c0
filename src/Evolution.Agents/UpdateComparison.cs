using System.Diagnostics;
using System.Text.Json.Serialization;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;
using Evolution.Updates;

namespace Evolution.Agents;

/// <summary>
/// One row of the comparison table. Rates are in [0, 1] (NaN when a set is empty, e.g. no two-hop
/// query through a relation); fluency is ROME's n-gram entropy in bits; costs are wall time and bytes
/// (fp32 weight deltas, or statement text plus embedding). The retrieval fields are set for channels
/// that retrieve (rag, hybrid, adaptive) and left out otherwise.
/// </summary>
public sealed record MethodScores
{
    public int Updates { get; init; }
    public double Reliability { get; init; }
    public double Generalization { get; init; }
    public double Locality { get; init; }
    /// <summary>Locality over the changed relation's facts about other subjects (see <see cref="EditRates"/>).</summary>
    public double RelationLocality { get; init; }
    /// <summary>Locality over the changed subjects' other relations.</summary>
    public double SubjectLocality { get; init; }
    /// <summary>The papers' success rates on the same answers (CounterFact's efficacy, paraphrase and neighbourhood success; <see cref="SuccessRates"/>).</summary>
    public required SuccessRates Success { get; init; }
    public double Portability { get; init; }
    public double Fluency { get; init; }
    public double SecondsPerUpdate { get; init; }
    public double SecondsPerQuery { get; init; }
    /// <summary>Bytes the channel keeps to hold all its updates at once (single edits: the sum of their deltas).</summary>
    public long BytesStored { get; init; }
    public double BytesPerUpdate { get; init; }
    /// <summary>Statements put into the prompt (the agent's top_k).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? K { get; init; }
    /// <summary>Which statements a question could retrieve (the agent's retrieval_scope).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public RetrievalScope? Scope { get; init; }
    /// <summary>What the agent asked after the retrieved statements (the agent's retrieval_query).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public RetrievalQuery? Query { get; init; }
    /// <summary>Share of questions about a changed fact told to the memory whose news statement is among the k retrieved.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? RecallAtK { get; init; }
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull), JsonPropertyName("recall_at_5")] public double? RecallAt5 { get; init; }
    /// <summary>Share of those questions answered with the new object when the right statement was retrieved.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? AccuracyWhenRetrieved { get; init; }
    /// <summary>
    /// Mean p_old/(p_old + p_new) (Longpre et al. 2021, probabilities over the candidates as in run metrics) on
    /// questions whose right statement was retrieved and whose old answer the untouched weights still give:
    /// 1 means stale weights always win over the context, 0 the context always wins.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? MemorizationRatio { get; init; }
    /// <summary>How many questions the memorization ratio is over.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? StaleQuestions { get; init; }
    /// <summary>Share of the news a mixed channel (hybrid, adaptive) told its memory rather than its weights.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? ToMemory { get; init; }
}

/// <summary>Metrics after the first <see cref="Updates"/> updates, all kept, measured over every fact updated so far (both families).</summary>
public sealed record CurvePoint(int Updates, double Reliability, double Generalization, double Locality, double Portability, double Fluency, SuccessRates Success,
    double RelationLocality, double SubjectLocality);

/// <param name="PerEdit">For the single-edit methods (rome, ft-l, ft): each change's rates, in the order of the changes.</param>
/// <param name="Circuits">With <see cref="ComparisonOptions.Circuits"/>: how each parametric channel rewired the edited facts' circuits.</param>
/// <param name="NullSpace">For AlphaEdit's lifelong curve: what its projection let through at each update (<see cref="AlphaEditEditor.NullSpaceLog"/>).</param>
public sealed record ComparisonResult(int Changes, IReadOnlyDictionary<string, MethodScores> Methods, IReadOnlyDictionary<string, IReadOnlyList<CurvePoint>> Curves,
    string HybridSplit, IReadOnlyDictionary<string, IReadOnlyList<EditRates>> PerEdit, EditCircuitReport? Circuits = null,
    IReadOnlyList<NullSpaceUse>? NullSpace = null);

/// <param name="MemoryDirectory">Where each retrieval channel's fresh LiteDB memory is written.</param>
/// <param name="Curves">Sequential curves for <see cref="UpdateComparison.CurveMethods"/>.</param>
/// <param name="FluencyTokens">Greedy tokens generated per fluency prompt.</param>
/// <param name="Circuits">When set, <see cref="EditCircuits"/> traces the edited facts' circuits before and after each parametric channel's edits.</param>
/// <param name="Editors">Changes to an editor's defaults, by method (<c>compare-updates --preserve</c> for alphaedit); the others keep theirs.</param>
public sealed record ComparisonOptions(string MemoryDirectory, bool Curves = true, int FluencyTokens = 32, EditCircuitOptions? Circuits = null,
    IReadOnlyDictionary<string, EditorOverrides>? Editors = null);

/// <summary>
/// The update-channel comparison (issue 4): the same world changes through each channel, measured by
/// <see cref="EditMetrics"/> on <see cref="EditProbes"/> (the probe set and scoring <c>edit</c> uses too), every
/// question answered by <see cref="AgentRuntime.Answer"/>, so
/// the numbers are what agents do in scenarios (retrieval in the prompt for rag, hybrid and adaptive, plain ranking
/// for edited weights).
/// - rome, ft-l, ft: single edits, each applied, measured on its own fact and reverted; averaged over facts.
/// - memit, alphaedit: one batch of all changes, measured over all.
/// - rag: every news statement into a fresh memory, then questions answered with retrieval.
/// - hybrid: news at even positions into memory, at odd positions into the weights by ROME (kept, one
///   after another); the agent answers everything with retrieval. Alternating keeps both halves alike in
///   relation mix, so the row shows what combining the channels costs and keeps.
/// - adaptive: each piece of news routed by the agent's confidence in the fact (<see cref="AgentRuntime.WritesToWeights"/>:
///   firmly held facts into the weights by ROME, the rest into memory; kept, one after another), and each question answered
///   with retrieval only where the weights alone are unsure (Mallen et al. 2023's adaptive retrieval).
/// - none: the untouched agent, the reference for locality and fluency.
/// Locality: neighbourhood facts (<see cref="EditProbes.NeighboursPerKind"/>, never a changed fact) keep the untouched
/// agent's answer (without memory). Fluency: ROME's n-gram entropy of greedy generations from prompts
/// about the changed subject (its name alone, and the edit prompt). The model is restored exactly.
/// </summary>
public sealed class UpdateComparison
{
    public static readonly IReadOnlyList<string> Methods = ["none", "rome", "memit", "alphaedit", "ft-l", "ft", "rag", "hybrid", "adaptive"];
    public static readonly IReadOnlyList<string> CurveMethods = ["rome", "alphaedit", "ft-l", "rag"];
    /// <summary>The channels of the lifelong comparison (<see cref="RunLifelong"/>).</summary>
    public static readonly IReadOnlyList<string> LifelongMethods = ["rome", "memit", "alphaedit", "ft-l", "rag", "adaptive"];
    public const string HybridSplit = "news at even positions (0, 2, …) into memory, odd positions into the weights by ROME; answers with retrieval";

    readonly AgentRuntime.Parts parts;
    readonly ComparisonOptions options;
    readonly AgentRuntime weights; // the agent without memory: edits are written through it, and it is the untouched reference
    readonly List<Probe> probes;
    Action<double, string>? progress;
    int stage;
    Dictionary<string, IReadOnlyList<EditRates>> perEdit = [];

    /// <summary>One change's probes, the news sentence that tells it, and the prompts its fluency is measured on.</summary>
    sealed record Probe(EditProbe Edit, NewsItem News, IReadOnlyList<string> FluencyPrompts);

    public UpdateComparison(AgentRuntime.Parts parts, IReadOnlyList<FactChange> changes, ComparisonOptions options)
    {
        if (changes.Count == 0) throw new ArgumentException("no changes to compare");
        this.parts = parts with { Profile = parts.Profile with { Update = parts.Profile.Update with { Channel = UpdateChannel.None } } };
        this.options = options;
        weights = new AgentRuntime("weights", this.parts, null);
        var world = parts.World;
        probes = EditProbes.For(world, changes, parts.Profile.Data.Epoch, new AgentAnswerer(weights).Answer).Select(edit =>
        {
            var change = edit.Change;
            string subject = world[change.Subject].Name;
            // The news sentence completes the edit prompt, so every channel is told the same words.
            var statement = world.CanonicalStatement(RelationCatalogue.Get(change.Relation)).Render(subject, edit.Request.TargetNew);
            var news = new NewsItem(change.Subject, change.Relation, edit.NewAnswer, change.Epoch, statement, edit.Request.Prompt);
            return new Probe(edit, news, [subject, edit.Request.Prompt]);
        }).ToList();
    }

    /// <summary>How many stages <see cref="Run"/> goes through: one per method, one per curve, one for the circuits.</summary>
    public int Stages(IReadOnlyList<string> methods) => methods.Count + (options.Curves ? methods.Count(CurveMethods.Contains) : 0) + (options.Circuits is null ? 0 : 1);

    /// <summary>Runs the methods in order; <paramref name="progress"/> hears the stages done so far (fractional within a stage) and what is being done.</summary>
    public ComparisonResult Run(IReadOnlyList<string> methods, Action<double, string>? progress = null)
    {
        foreach (var m in methods)
            if (!Methods.Contains(m)) throw new ArgumentException($"unknown method '{m}'");
        (this.progress, stage) = (progress, 0);
        var rows = new Dictionary<string, MethodScores>();
        perEdit = new Dictionary<string, IReadOnlyList<EditRates>>();
        var curves = new Dictionary<string, IReadOnlyList<CurvePoint>>();
        foreach (var method in methods)
        {
            Report(method, 0, 1);
            rows[method] = method switch
            {
                "none" => Untouched(),
                "memit" or "alphaedit" => Batch(method),
                "rag" => Rag(),
                "hybrid" => Mixed("hybrid", UpdateChannel.Hybrid, (i, _) => i % 2 == 0),
                "adaptive" => Mixed("adaptive", UpdateChannel.Adaptive, (i, agent) => !agent.WritesToWeights(probes[i].News)),
                _ => SingleEdits(method),
            };
            stage++;
            if (options.Curves && CurveMethods.Contains(method))
            {
                Report($"{method} sequential", 0, 1);
                // Sequential editing, every update kept (Gupta et al. 2024: ROME degrades).
                curves[method] = Curve(method, 1, EditEvaluation.CurveSizes(probes.Count), "sequential");
                stage++;
            }
        }
        // Circuits before and after each parametric channel's edits (Yao et al. 2024), applied again as the rows above apply them.
        var circuits = options.Circuits is null ? null : EditCircuits.Compare(parts.Model, parts.Tokenizer, parts.World, parts.Profile.Data.Epoch,
            probes.Select(p => p.Edit.Change).ToList(), methods, EditorFor, options.Circuits, Report);
        return new ComparisonResult(probes.Count, rows, curves, HybridSplit, perEdit, circuits);
    }

    /// <summary>
    /// Lifelong updating (AlphaEdit §4's sequential setting): every change written through each channel in order, in
    /// updates of <paramref name="batch"/> changes (ROME writes one fact per update whatever the batch), all kept, and
    /// measured over every change so far after <see cref="LifelongSizes"/> changes (rounded up to whole updates). One
    /// editor per channel for the whole run, so AlphaEdit keeps every earlier update's keys out of later ones; the adaptive
    /// channel routes one change at a time (its weight half is ROME's). The
    /// result has curves only; the model is restored exactly.
    /// </summary>
    public ComparisonResult RunLifelong(IReadOnlyList<string> methods, int batch, Action<double, string>? progress = null)
    {
        if (batch < 1) throw new ArgumentException($"batch must be at least 1, got {batch}");
        foreach (var m in methods)
            if (!LifelongMethods.Contains(m)) throw new ArgumentException($"'{m}' is not a lifelong channel ({string.Join(", ", LifelongMethods)})");
        (this.progress, stage) = (progress, 0);
        var curves = new Dictionary<string, IReadOnlyList<CurvePoint>>();
        IReadOnlyList<NullSpaceUse>? nullSpace = null;
        foreach (var method in methods)
        {
            curves[method] = Curve(method, method is "rome" or "adaptive" ? 1 : batch, LifelongSizes(probes.Count), "lifelong",
                editor => nullSpace = (editor as AlphaEditEditor)?.NullSpaceLog ?? nullSpace);
            stage++;
        }
        return new ComparisonResult(probes.Count, new Dictionary<string, MethodScores>(), curves, HybridSplit, new Dictionary<string, IReadOnlyList<EditRates>>(),
            NullSpace: nullSpace);
    }

    /// <summary>Where the lifelong curves are measured: after 1, 10, 50, 100, 200, 500, 1,000, … changes and after all of them.</summary>
    public static IReadOnlySet<int> LifelongSizes(int changes)
    {
        var sizes = new SortedSet<int> { changes };
        foreach (var n in new[] { 1, 10, 50 })
            if (n < changes) sizes.Add(n);
        for (long decade = 100; decade < changes; decade *= 10)
            foreach (var n in new[] { decade, 2 * decade, 5 * decade })
                if (n < changes) sizes.Add((int)n);
        return sizes;
    }

    /// <summary>
    /// The changes written through <paramref name="method"/> in order, <paramref name="unit"/> per update, all kept, and
    /// measured over every change so far after each of <paramref name="sizes"/> changes (rounded up to whole updates).
    /// One editor for the whole curve, so AlphaEdit keeps every earlier edit's keys out of later updates; for rag,
    /// statements added to one fresh memory and every question answered with retrieval from all so far.
    /// </summary>
    IReadOnlyList<CurvePoint> Curve(string method, int unit, IReadOnlySet<int> sizes, string label, Action<IKnowledgeEditor>? written = null)
    {
        var updates = probes.Chunk(unit).ToList();
        int Changes(int updatesApplied) => Math.Min(updatesApplied * unit, probes.Count);
        var measureAt = sizes.Select(n => (n + unit - 1) / unit).ToHashSet();
        void Progress(int n) => Report($"{method} {label}", Changes(n), probes.Count);
        if (method == "adaptive")
        {
            using var memory = FreshMemory($"adaptive-{label}");
            var agent = Retriever(memory, UpdateChannel.Adaptive);
            var rome = EditorFor("rome");
            return EditEvaluation.UpdateSequentially(parts.Model, updates.Count,
                i => Tell(updates[i].Single(), memory, rome, toMemory: !agent.WritesToWeights(updates[i].Single().News)).Delta,
                n => Measure(agent, probes.Take(Changes(n)).ToList(), memory).Point(Changes(n)), Progress, measureAt);
        }
        if (method == "rag")
        {
            using var memory = FreshMemory($"rag-{label}");
            var agent = Retriever(memory, UpdateChannel.Rag);
            return EditEvaluation.UpdateSequentially(parts.Model, updates.Count, i =>
            {
                agent.Learn(updates[i].Select(p => p.News).ToList());
                return null;
            }, n => Measure(agent, probes.Take(Changes(n)).ToList(), memory).Point(Changes(n)), Progress, measureAt);
        }
        var editor = EditorFor(method);
        var curve = EditEvaluation.UpdateSequentially(parts.Model, updates.Count, i =>
        {
            var delta = editor.ComputeDelta(parts.Model, parts.Tokenizer, updates[i].Select(p => p.Edit.Request).ToList());
            delta.Apply(parts.Model);
            return delta;
        }, n => Measure(weights, probes.Take(Changes(n)).ToList(), null).Point(Changes(n)), Progress, measureAt);
        written?.Invoke(editor);
        return curve;
    }

    void Report(string what, int done, int total) => progress?.Invoke(stage + done / (double)Math.Max(1, total), $"{what}: {done}/{total}");

    MethodScores Untouched()
    {
        var m = Measure(weights, probes, null);
        return m.Scores(probes.Count, 0, 0);
    }

    MethodScores SingleEdits(string method)
    {
        var measured = EditEvaluation.EachAlone(parts.Model, parts.Tokenizer, probes.Select(p => p.Edit.Request).ToList(), EditorFor(method),
            i => Measure(weights, [probes[i]], null), done => Report(method, done, probes.Count));
        perEdit[method] = measured.Select(m => m.Value.Rates).ToList();
        return Measurement.Average(measured.Select(m => m.Value).ToList()).Scores(probes.Count, measured.Sum(m => m.Seconds), measured.Sum(m => m.Bytes));
    }

    MethodScores Batch(string method)
    {
        var batch = EditEvaluation.AllAtOnce(parts.Model, parts.Tokenizer, probes.Select(p => p.Edit.Request).ToList(), EditorFor(method),
            () => Measure(weights, probes, null));
        return batch.Value.Scores(probes.Count, batch.Seconds, batch.Bytes);
    }

    MethodScores Rag()
    {
        using var memory = FreshMemory("rag");
        var agent = Retriever(memory, UpdateChannel.Rag);
        var outcome = agent.Learn(probes.Select(p => p.News).ToList());
        return WithRetrievalSettings(Measure(agent, probes, memory).Scores(probes.Count, outcome.Seconds, outcome.BytesStored));
    }

    MethodScores WithRetrievalSettings(MethodScores scores) => scores with { Scope = parts.Profile.Update.Scope, Query = parts.Profile.Update.Query };

    /// <summary>
    /// The two channels that split the news between memory and weights, measured once all news is in (kept, one after
    /// another): hybrid by position (<see cref="HybridSplit"/>), adaptive by what the agent already knows
    /// (<see cref="AgentRuntime.WritesToWeights"/>, decided on the weights the earlier news left). Retrieval columns count
    /// the facts told to the memory only: the edited ones have no statement to find.
    /// </summary>
    MethodScores Mixed(string method, UpdateChannel channel, Func<int, AgentRuntime, bool> toMemory)
    {
        using var memory = FreshMemory(method);
        var agent = Retriever(memory, channel);
        var rome = EditorFor("rome");
        double seconds = 0;
        long bytes = 0;
        var told = new HashSet<Probe>();
        return EditEvaluation.UpdateSequentially(parts.Model, probes.Count, i =>
        {
            var clock = Stopwatch.StartNew();
            bool intoMemory = toMemory(i, agent);
            if (intoMemory) told.Add(probes[i]);
            var (delta, written) = Tell(probes[i], memory, rome, intoMemory);
            bytes += written;
            seconds += clock.Elapsed.TotalSeconds;
            return delta;
        }, _ => WithRetrievalSettings(Measure(agent, probes, memory, inMemory: told.Contains).Scores(probes.Count, seconds, bytes))
                with { ToMemory = told.Count / (double)probes.Count },
            n => Report(method, n, probes.Count), measureAt: new HashSet<int> { probes.Count }).Single();
    }

    /// <summary>A new editor of <paramref name="method"/>, with <see cref="ComparisonOptions.Editors"/>' changes to its defaults.</summary>
    IKnowledgeEditor EditorFor(string method) => weights.EditorFor(method, options.Editors?.GetValueOrDefault(method));

    /// <summary>One change told to the memory, or written into the weights by <paramref name="rome"/> (the delta applied and returned).</summary>
    (WeightDelta? Delta, long Bytes) Tell(Probe probe, RetrievalMemory memory, IKnowledgeEditor rome, bool toMemory)
    {
        if (toMemory) return (null, memory.Add(probe.News));
        var delta = rome.ComputeDelta(parts.Model, parts.Tokenizer, [probe.Edit.Request]);
        delta.Apply(parts.Model);
        return (delta, delta.Bytes);
    }

    RetrievalMemory FreshMemory(string name)
    {
        Directory.CreateDirectory(options.MemoryDirectory);
        var path = Path.Combine(options.MemoryDirectory, name + ".db");
        File.Delete(path);
        return RetrievalMemory.Open(path, parts);
    }

    /// <summary>An agent on the shared model that answers with retrieval from <paramref name="memory"/> (not disposed: it would dispose the model).</summary>
    AgentRuntime Retriever(RetrievalMemory memory, UpdateChannel channel) =>
        new(channel.ToString().ToLowerInvariant(), parts with { Profile = parts.Profile with { Update = parts.Profile.Update with { Channel = channel } } }, memory);

    /// <summary>What a channel did on a set of changes: <see cref="EditRates"/> plus fluency, query cost and the retrieval columns.</summary>
    sealed record Measurement(EditRates Rates, double Fluency, double SecondsPerQuery,
        double? RecallAtK, double? RecallAt5, double? AccuracyWhenRetrieved, double? MemorizationRatio, int? StaleQuestions, int? K)
    {
        public CurvePoint Point(int n) => new(n, Rates.Reliability, Rates.Generalization, Rates.Locality, Rates.Portability, Fluency, Rates.Success,
            Rates.RelationLocality, Rates.SubjectLocality);

        public MethodScores Scores(int updates, double seconds, long bytes) => new()
        {
            Updates = updates, Reliability = Rates.Reliability, Generalization = Rates.Generalization, Locality = Rates.Locality, Portability = Rates.Portability,
            RelationLocality = Rates.RelationLocality, SubjectLocality = Rates.SubjectLocality, Success = Rates.Success, Fluency = Fluency, SecondsPerUpdate = seconds / updates, SecondsPerQuery = SecondsPerQuery, BytesStored = bytes,
            BytesPerUpdate = bytes / (double)updates, K = K, RecallAtK = RecallAtK, RecallAt5 = RecallAt5,
            AccuracyWhenRetrieved = AccuracyWhenRetrieved, MemorizationRatio = MemorizationRatio, StaleQuestions = StaleQuestions,
        };

        /// <summary>EasyEdit's single-edit numbers: each metric averaged over the edits where it is defined.</summary>
        public static Measurement Average(IReadOnlyList<Measurement> all) => new(EditMetrics.Mean(all.Select(m => m.Rates).ToList()),
            EditMetrics.MeanDefined(all.Select(m => m.Fluency)), EditMetrics.MeanDefined(all.Select(m => m.SecondsPerQuery)), null, null, null, null, null, null);
    }

    /// <summary>An agent as a <see cref="ProbeAnswerer"/>: independent answers (no peers), each kept with what the agent read, and the time per question.</summary>
    sealed class AgentAnswerer(AgentRuntime agent)
    {
        public Dictionary<ProbeQuestion, AgentAnswer> Answers { get; } = new(ReferenceEqualityComparer.Instance);
        public double SecondsPerQuery { get; private set; }

        public IReadOnlyList<ProbeAnswer> Answer(IReadOnlyList<ProbeQuestion> questions)
        {
            var clock = Stopwatch.StartNew();
            var answers = agent.Answer(questions.Select(q => new AskItem(new Question(q.Subject, q.Relation, q.Prompt, q.Candidates), [])).ToList());
            SecondsPerQuery = clock.Elapsed.TotalSeconds / Math.Max(1, questions.Count);
            foreach (var (q, a) in questions.Zip(answers)) Answers[q] = a;
            return questions.Zip(answers, (q, a) => new ProbeAnswer(a.Answer, q.Candidates.Select(c => a.Distribution[c]).ToList())).ToList();
        }
    }

    /// <summary>The one measurement every channel gets: <see cref="EditMetrics"/> with the agent answering, then fluency and, with a memory, retrieval.</summary>
    Measurement Measure(AgentRuntime agent, IReadOnlyList<Probe> set, RetrievalMemory? memory, Func<Probe, bool>? inMemory = null)
    {
        var answerer = new AgentAnswerer(agent);
        var rates = EditMetrics.Measure(set.Select(p => p.Edit).ToList(), answerer.Answer);
        double fluency = Fluency.Mean(set.SelectMany(p => p.FluencyPrompts).Select(prompt => agent.Generate(prompt, options.FluencyTokens)));
        if (memory is null)
            return new Measurement(rates, fluency, answerer.SecondsPerQuery, null, null, null, null, null, null);

        static double Share(IEnumerable<bool> hits) => hits.Select(h => h ? 1.0 : 0.0).DefaultIfEmpty(double.NaN).Average();
        // Retrieval: was the news statement among the k the agent read, and did the agent follow it?
        var told = set.Where(p => inMemory is null || inMemory(p))
            .SelectMany(p => p.Edit.Direct.Select((q, i) => (Probe: p, Question: q, Before: p.Edit.DirectBefore[i], Answer: answerer.Answers[q]))).ToList();
        var read = told.Select(x => (x.Probe, x.Before, x.Answer, Found: x.Answer.Retrieved.Contains(x.Probe.News.Statement))).ToList();
        double recall5 = Share(told.Select(x => memory.Retrieve(new Question(x.Question.Subject, x.Question.Relation, x.Question.Prompt, x.Question.Candidates), 5,
            parts.Profile.Update.Scope).Contains(x.Probe.News.Statement)));
        var found = read.Where(r => r.Found).ToList();
        var stale = found.Where(r => r.Before == r.Probe.Edit.OldAnswer).ToList();
        double ratio = stale.Select(r => Core.Evaluation.MemorizationRatio.OfProbabilities(r.Answer.Distribution[r.Probe.Edit.OldAnswer], r.Answer.Distribution[r.Probe.Edit.NewAnswer]))
            .DefaultIfEmpty(double.NaN).Average();
        return new Measurement(rates, fluency, answerer.SecondsPerQuery, Share(read.Select(r => r.Found)), recall5,
            Share(found.Select(r => r.Answer.Answer == r.Probe.Edit.NewAnswer)), ratio, stale.Count, parts.Profile.Update.TopK);
    }
}
