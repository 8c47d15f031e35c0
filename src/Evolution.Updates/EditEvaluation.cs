using System.Diagnostics;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;

namespace Evolution.Updates;

/// <summary>
/// One edit's <see cref="EditRates"/> (see <see cref="EditMetrics"/>) and the cost of the update.
/// </summary>
public sealed record EditScore(double Reliability, double Generalization, double Locality, double Portability,
    int PortabilityQueries, double SecondsPerUpdate, long BytesStored, double RelationLocality, double SubjectLocality, SuccessRates Success);

/// <summary>Metrics after the first <see cref="Edits"/> edits were applied (one after another, or in one batch), over every fact edited so far.</summary>
public sealed record SequentialPoint(int Edits, double Reliability, double Generalization, double Locality, double Portability, SuccessRates Success);

/// <summary>An update's measurement and its cost: wall time of computing and applying it, bytes of its deltas.</summary>
public sealed record Measured<T>(T Value, double Seconds, long Bytes);

/// <summary>
/// The three ways edits are applied in an experiment, each written once: single edits (each on the untouched
/// model, reverted), one batch, and sequential editing. What is measured after the edits is the caller's
/// (<see cref="EditMetrics"/> over bare weights for <c>edit</c>, an agent's answers for <c>compare-updates</c>);
/// the model is always restored bit for bit.
/// </summary>
public static class EditEvaluation
{
    /// <summary>Single edits (EasyEdit's setting): each request applied alone to the untouched model, measured, reverted.</summary>
    public static IReadOnlyList<Measured<T>> EachAlone<T>(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests, IKnowledgeEditor editor,
        Func<int, T> measure, Action<int>? progress = null)
    {
        var results = new List<Measured<T>>();
        for (int i = 0; i < requests.Count; i++)
        {
            var clock = Stopwatch.StartNew();
            using var delta = editor.ComputeDelta(model, tokenizer, [requests[i]]);
            delta.Apply(model);
            double seconds = clock.Elapsed.TotalSeconds;
            try { results.Add(new Measured<T>(measure(i), seconds, delta.Bytes)); }
            finally { delta.Revert(model); }
            progress?.Invoke(results.Count);
        }
        return results;
    }

    /// <summary>All requests written by one call (MEMIT's batch setting), measured once; the model is restored exactly.</summary>
    public static Measured<T> AllAtOnce<T>(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests, IKnowledgeEditor editor, Func<T> measure)
    {
        var clock = Stopwatch.StartNew();
        using var delta = editor.ComputeDelta(model, tokenizer, requests);
        delta.Apply(model);
        double seconds = clock.Elapsed.TotalSeconds;
        try { return new Measured<T>(measure(), seconds, delta.Bytes); }
        finally { delta.Revert(model); }
    }

    /// <summary><c>edit</c>'s single edits: each change's rates on the bare edited weights, with its cost.</summary>
    public static IReadOnlyList<EditScore> Singles(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditProbe> probes, IKnowledgeEditor editor, Action<int>? progress = null)
    {
        var weights = EditMetrics.Weights(model, tokenizer);
        return EachAlone(model, tokenizer, probes.Select(p => p.Request).ToList(), editor, i => EditMetrics.Measure([probes[i]], weights), progress)
            .Select(m => new EditScore(m.Value.Reliability, m.Value.Generalization, m.Value.Locality, m.Value.Portability, m.Value.PortabilityQueries, m.Seconds, m.Bytes,
                m.Value.RelationLocality, m.Value.SubjectLocality, m.Value.Success))
            .ToList();
    }

    /// <summary>One edit measured alone; <paramref name="knowledgeEpoch"/> is the epoch the model was trained on (its "old" world).</summary>
    public static EditScore Evaluate(Gpt model, ITextTokenizer tokenizer, World world, FactChange change, IKnowledgeEditor editor, int knowledgeEpoch) =>
        Singles(model, tokenizer, EditProbes.For(world, [change], knowledgeEpoch, EditMetrics.Weights(model, tokenizer)), editor)[0];

    /// <summary>
    /// <c>edit</c>'s batch: every change written by one call, rated over all of them on the bare weights; <paramref name="whileApplied"/>
    /// runs while the batch is in the weights (<c>edit --save</c> writes them then).
    /// </summary>
    public static SequentialPoint Batch(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditProbe> probes, IKnowledgeEditor editor, Action? whileApplied = null) =>
        Point(probes.Count, AllAtOnce(model, tokenizer, probes.Select(p => p.Request).ToList(), editor, () =>
        {
            var rates = EditMetrics.Measure(probes, EditMetrics.Weights(model, tokenizer));
            whileApplied?.Invoke();
            return rates;
        }).Value);

    /// <summary>
    /// <c>edit --sequential</c>: <see cref="EditSequentially"/> rated on the bare weights over every change edited so far.
    /// ROME is known to degrade under many sequential edits (Gupta et al. 2024). <paramref name="whileApplied"/> runs while every
    /// edit is in the weights (<c>edit --save</c> writes them then).
    /// </summary>
    public static IReadOnlyList<SequentialPoint> Sequential(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditProbe> probes, IKnowledgeEditor editor,
        Action<int>? progress = null, Action? whileApplied = null)
    {
        var weights = EditMetrics.Weights(model, tokenizer);
        return EditSequentially(model, tokenizer, probes.Select(p => p.Request).ToList(), editor, edited =>
        {
            var point = Point(edited, EditMetrics.Measure(probes.Take(edited).ToList(), weights));
            if (edited == probes.Count) whileApplied?.Invoke();
            return point;
        }, progress);
    }

    static SequentialPoint Point(int edits, EditRates r) => new(edits, r.Reliability, r.Generalization, r.Locality, r.Portability, r.Success);

    /// <summary>
    /// <see cref="UpdateSequentially"/> with a weight editor: each edit computed on the model the previous edits left.
    /// </summary>
    public static IReadOnlyList<T> EditSequentially<T>(Gpt model, ITextTokenizer tokenizer, IReadOnlyList<EditRequest> requests, IKnowledgeEditor editor,
        Func<int, T> measure, Action<int>? progress = null) =>
        UpdateSequentially(model, requests.Count, i =>
        {
            var delta = editor.ComputeDelta(model, tokenizer, [requests[i]]);
            delta.Apply(model);
            return delta;
        }, measure, progress);

    /// <summary>
    /// The sequential-update loop shared by every curve and channel: applies update i = 0, 1, … in order, all kept
    /// (<paramref name="update"/> returns the weight delta it applied, or null when it wrote elsewhere, e.g. to a memory),
    /// calls <paramref name="measure"/> with the number of updates applied at each of <paramref name="measureAt"/> (default
    /// <see cref="CurveSizes"/>), and restores the model exactly (deltas reverted in reverse order), also when a step throws.
    /// </summary>
    public static IReadOnlyList<T> UpdateSequentially<T>(Gpt model, int count, Func<int, WeightDelta?> update, Func<int, T> measure,
        Action<int>? progress = null, IReadOnlySet<int>? measureAt = null)
    {
        var sizes = measureAt ?? CurveSizes(count);
        var applied = new List<WeightDelta>();
        var points = new List<T>();
        try
        {
            for (int i = 0; i < count; i++)
            {
                if (update(i) is { } delta) applied.Add(delta);
                progress?.Invoke(i + 1);
                if (sizes.Contains(i + 1)) points.Add(measure(i + 1));
            }
        }
        finally { RevertAll(model, applied); }
        return points;
    }

    /// <summary>Reverts <paramref name="applied"/> deltas newest first (the only order that restores the weights bit for bit) and disposes them.</summary>
    public static void RevertAll(Gpt model, IReadOnlyList<WeightDelta> applied)
    {
        for (int i = applied.Count - 1; i >= 0; i--)
        {
            applied[i].Revert(model);
            applied[i].Dispose();
        }
    }

    /// <summary>Where sequential curves are measured: after 1, 10, 100, … and all <paramref name="updates"/>.</summary>
    public static IReadOnlySet<int> CurveSizes(int updates)
    {
        var sizes = new SortedSet<int> { updates };
        for (int n = 1; n < updates; n *= 10) sizes.Add(n);
        return sizes;
    }

    /// <summary>The edit request for a world change: the first training statement prompt of the relation.</summary>
    public static EditRequest RequestFor(World world, FactChange change)
    {
        var relation = RelationCatalogue.Get(change.Relation);
        var subject = world[change.Subject].Name;
        var template = world.CanonicalStatement(relation);
        return new EditRequest(template.Prompt(subject), subject, world[change.NewObject].Name, EssencePrompts(world, change.Subject, change.Relation));
    }

    /// <summary>
    /// What else the world says about <paramref name="subject"/>: each of its other relations as a held-out question
    /// template (one the agent never trained on, so the prompts an editor keeps are not the ones locality is measured
    /// on), in catalogue order. ROME's "{subject} is a" elicits GPT-2's knowledge of a subject; our agents only ever
    /// read a subject's relations.
    /// </summary>
    public static IReadOnlyList<string> EssencePrompts(World world, int subject, string relation)
    {
        var entity = world[subject];
        return world.Relations.Where(r => r.Name != relation && r.SubjectType == entity.Type)
            .Select(r => world.HeldOutTemplates(r).FirstOrDefault(t => t.IsQuery))
            .OfType<Template>().Select(t => t.Prompt(entity.Name)).ToList();
    }
}
