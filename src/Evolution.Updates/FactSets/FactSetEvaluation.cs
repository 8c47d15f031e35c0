using Evolution.Core.Model;
using Evolution.Core.Text;

namespace Evolution.Updates.FactSets;

/// <summary>One method's numbers on a fact set: both families averaged over the records, the cost, the settings it ran with.</summary>
/// <param name="Cases">Per record (single edits; empty for a sequential run, whose numbers are over every record at once).</param>
/// <param name="Curve">Sequential runs: the numbers over the records edited so far, after 1, 10, 100, … and every update.</param>
public sealed record FactSetResult(string Method, FactScores Scores, double SecondsPerEdit, double BytesPerEdit, object? HyperParams,
    IReadOnlyList<(string Id, FactScores Scores)> Cases, IReadOnlyList<(int Records, FactScores Scores)> Curve);

/// <summary>
/// ROME's evaluation protocol on a real fact set (Meng et al. 2022, §3.2 and Appendix C; MEMIT and AlphaEdit use the same):
/// by default each record is written alone into the unedited model, measured, and reverted (<see cref="EditEvaluation.EachAlone{T}"/>),
/// so every edit is judged on "the unedited model + that edit"; <see cref="RunSequential"/> keeps the edits instead, one update
/// after another (Gupta et al. 2024's sequential setting), measuring every record edited so far. Each record is measured in
/// both families (<see cref="FactMetrics"/>); locality compares with the unedited model's argmaxes, read once before any edit.
/// Method "none" measures the unedited model (efficacy before editing). The editors are <see cref="KnowledgeEditors"/>'
/// with the defaults of <see cref="OverridesFor"/>; their key covariance and random prefixes come from the <see cref="EditorCorpus"/> it is given.
/// </summary>
public sealed class FactSetEvaluation
{
    /// <summary>The methods a fact set can be run through: weight editors only (the retrieval channels need an agent's world).</summary>
    public static IReadOnlyList<string> Methods { get; } = ["none", .. KnowledgeEditors.Methods];

    readonly Gpt model;
    readonly ITextTokenizer tokenizer;
    readonly IReadOnlyList<FactRecord> records;
    readonly EditorCorpus corpus;
    readonly IReadOnlyList<IReadOnlyList<int[]>> before;

    public FactSetEvaluation(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<FactRecord> records, EditorCorpus corpus)
    {
        (this.model, this.tokenizer, this.records, this.corpus) = (model, tokenizer, records, corpus);
        Unedited = records.Select(r => FactMetrics.Read(model, tokenizer, r)).ToList();
        before = records.Select((r, i) => FactMetrics.NeighbourArgmax(r, Unedited[i])).ToList();
    }

    /// <summary>Every record's rows read by the unedited model (<see cref="FactMetrics.Rows"/>).</summary>
    public IReadOnlyList<IReadOnlyList<TargetScore>> Unedited { get; }

    /// <summary>
    /// The editors' settings for a model of <paramref name="config"/>'s depth. Their record defaults were measured on our
    /// 2–4-layer agents (ROME at layer 0, MEMIT and AlphaEdit at the last layer and the prompt's last token, ROME's KL
    /// keeping the subject's other facts), which do not carry over to a pretrained model. Here: ROME at layer
    /// ⌊L·17/48⌋, where causal tracing puts GPT-2 XL's (17 of 48; this gives GPT-2 medium's 8 of 24 and large's 12 of 36
    /// as in ROME's hparams), with the paper's KL factor 0.0625 on "{subject} is a" and weight decay 0.5; MEMIT and AlphaEdit
    /// at the subject's last token (the papers') on the max(1, round(L·5/48)) layers ending at ROME's (GPT-2 XL: 13–17);
    /// FT-L and FT as their records (FT-L: the last MLP, lr 5e-3, ε 0.02).
    /// </summary>
    public static EditorOverrides? OverridesFor(string method, GptConfig config)
    {
        int layers = config.NLayers, rome = layers * 17 / 48, span = Math.Max(1, (int)Math.Round(layers * 5 / 48.0));
        var range = Enumerable.Range(rome - Math.Min(span, rome + 1) + 1, Math.Min(span, rome + 1)).ToList();
        return method switch
        {
            "rome" => new EditorOverrides { Layer = rome, KlFactor = 0.0625, WeightDecay = 0.5, Essence = EssenceSource.IsA },
            "memit" or "alphaedit" => new EditorOverrides { Layers = range, Position = EditPosition.SubjectLast },
            _ => null,
        };
    }

    /// <summary>The hyper-parameter record <paramref name="method"/> runs with here (null for "none").</summary>
    public object? HyperParams(string method) =>
        method == "none" ? null : KnowledgeEditors.HyperParams(method, model.Config, OverridesFor(method, model.Config));

    /// <summary>ROME's protocol: each record alone on the unedited model, measured, reverted. <paramref name="progress"/> gets records done.</summary>
    public FactSetResult Run(string method, Action<int>? progress = null)
    {
        if (method == "none")
        {
            var unedited = records.Select((r, i) => FactMetrics.Score(r, Unedited[i], before[i])).ToList();
            progress?.Invoke(records.Count);
            return Result(method, unedited, 0, 0, []);
        }
        var editor = KnowledgeEditors.Create(HyperParams(method)!, corpus);
        var measured = EditEvaluation.EachAlone(model, tokenizer, records.Select(r => r.Request).ToList(), editor, i => Measure(i), progress);
        return Result(method, measured.Select(m => m.Value).ToList(), measured.Average(m => m.Seconds), measured.Average(m => (double)m.Bytes), []);
    }

    /// <summary>
    /// Sequential editing: the records written in order, <paramref name="batch"/> per update (ROME one), every update kept;
    /// measured over the records edited so far after 1, 10, 100, … and all updates, the last point being the result. The
    /// model is restored afterwards. <paramref name="progress"/> gets updates done.
    /// </summary>
    public FactSetResult RunSequential(string method, int batch, Action<int>? progress = null)
    {
        if (method == "rome") batch = 1;
        int updates = (records.Count + batch - 1) / batch;
        var editor = method == "none" ? null : KnowledgeEditors.Create(HyperParams(method)!, corpus);
        double seconds = 0;
        long bytes = 0;
        var curve = EditEvaluation.UpdateSequentially(model, updates, u =>
        {
            if (editor is null) return null;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var delta = editor.ComputeDelta(model, tokenizer, records.Skip(u * batch).Take(batch).Select(r => r.Request).ToList());
            delta.Apply(model);
            seconds += clock.Elapsed.TotalSeconds;
            bytes += delta.Bytes;
            return delta;
        }, done =>
        {
            int edited = Math.Min(done * batch, records.Count);
            return (edited, FactScores.Mean(Enumerable.Range(0, edited).Select(Measure).ToList()));
        }, progress);
        return Result(method, [], seconds / records.Count, (double)bytes / records.Count, curve);
    }

    FactScores Measure(int i) => FactMetrics.Score(records[i], FactMetrics.Read(model, tokenizer, records[i]), before[i]);

    FactSetResult Result(string method, IReadOnlyList<FactScores> cases, double seconds, double bytes, IReadOnlyList<(int, FactScores)> curve) =>
        new(method, cases.Count > 0 ? FactScores.Mean(cases) : curve.Count > 0 ? curve[^1].Item2 : FactScores.Mean([]), seconds, bytes, HyperParams(method),
            cases.Select((c, i) => (records[i].Id, c)).ToList(), curve);
}
