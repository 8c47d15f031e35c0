using System.Diagnostics;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using Evolution.Updates;

namespace Evolution.Agents;

/// <summary>The circuit search of <see cref="EditCircuits"/>: <c>trace --methods circuit</c>'s defaults, and how many facts each channel traces.</summary>
/// <param name="Facts">Edited facts traced per channel (the first ones of the run): one EAP-IG circuit per fact and model state.</param>
public sealed record EditCircuitOptions(int Facts = EditCircuitOptions.DefaultFacts, double EdgeFraction = Circuit.DefaultEdgeFraction, int IgSteps = 5, string Selection = "greedy")
{
    public const int DefaultFacts = 20;
}

/// <summary>
/// Where the logit lens (<see cref="LogitLens"/>, the last token, the whole vocabulary) first ranks an object top, over the traced facts.
/// </summary>
/// <param name="MeanLayer">Mean over the facts where it ranks top at some layer: layer l is block l's output, −1 the embeddings; NaN if it never does.</param>
/// <param name="ByLayer">Facts per first layer ("embedding", "layer 0", …) and "never".</param>
public sealed record FirstTop(double MeanLayer, IReadOnlyDictionary<string, int> ByLayer);

public sealed record LensShift(FirstTop Before, FirstTop After);

/// <summary>A circuit node (head "a1.h2", MLP "m3", "input", "logits") and in how many traced facts it was gained or lost.</summary>
public sealed record NodeCount(string Node, int Facts);

/// <summary>
/// How one channel's edits changed the edited facts' circuits: before is the untouched model's circuit for the old object,
/// after the edited model's circuit for the new object (means over the traced facts).
/// </summary>
public sealed record CircuitRewiring
{
    /// <summary>"each alone" (rome, ft-l, ft: each edit on the untouched model, reverted) or "one batch" (memit, alphaedit: every change of the run).</summary>
    public string Applied { get; init; } = "";
    /// <summary>Facts considered (the first <see cref="EditCircuitOptions.Facts"/> changes).</summary>
    public int Facts { get; init; }
    /// <summary>Facts with a corruption partner (another subject of the same token length whose answer is neither object), so a circuit could be traced.</summary>
    public int Traced { get; init; }
    public double TracedShare { get; init; }
    /// <summary>Edge Jaccard of the circuit before and after (<see cref="CircuitDiff"/>).</summary>
    public double EdgeJaccard { get; init; }
    public double WeightedOverlap { get; init; }
    public double EdgesGained { get; init; }
    public double EdgesLost { get; init; }
    /// <summary>
    /// Edge Jaccard of the circuit for the new object before (untouched model) and after the edit: the target held fixed, what
    /// the weights alone changed. <see cref="EdgeJaccard"/> also moves because the target changed; the untouched row shows how much.
    /// </summary>
    public double SameTargetJaccard { get; init; }
    /// <summary>Heads and MLPs most often in the circuit after but not before, and the other way round.</summary>
    public IReadOnlyList<NodeCount> NodesGained { get; init; } = [];
    public IReadOnlyList<NodeCount> NodesLost { get; init; } = [];
    public LensShift NewObject { get; init; } = null!;
    public LensShift OldObject { get; init; } = null!;
    /// <summary>Mean mover heads per circuit (<see cref="HeadRoles"/>: attend to the subject and promote the target): for the old object before, the new one after.</summary>
    public double MoversBefore { get; init; }
    public double MoversAfter { get; init; }
    public double Seconds { get; init; }
}

/// <param name="Edges">Edges of the computation graph; a circuit keeps ⌈EdgeFraction · Edges⌉ of them.</param>
/// <param name="Untouched">The untouched model's circuit for the new object against its circuit for the old one: what changing the target alone does.</param>
public sealed record EditCircuitReport(int Facts, double EdgeFraction, int IgSteps, string Selection, int Edges, CircuitRewiring Untouched,
    IReadOnlyDictionary<string, CircuitRewiring> Channels);

/// <summary>
/// How an edit rewires a fact's knowledge circuit (Yao et al. 2024, "Knowledge Circuits in Pretrained Transformers", §5): they
/// find that ROME writes the new fact at the subject and mover heads carry it to the last token, while fine-tuning gives the
/// new object a high logit directly at the edited layer and leaks into unrelated prompts. For each parametric channel, each
/// traced fact's EAP-IG circuit (<see cref="EapIg"/>, <see cref="Circuit.Select"/>) before the update (untouched model, old
/// object) and after it (edited model, new object) is compared (<see cref="CircuitDiff"/>), with the logit-lens layer where
/// each object first ranks top and the mover heads in the circuit. Edits are applied as the channel's row of
/// <see cref="UpdateComparison"/> applies them, through <see cref="EditEvaluation.EachAlone"/> and
/// <see cref="EditEvaluation.AllAtOnce"/>, which restore the model bit for bit. Both circuits of a fact share one corruption
/// (a subject unchanged by the run whose answer is neither object), so the metric's contrast is the same before and after;
/// every circuit is searched for one fact alone, so batching cannot make two searches of one model differ.
/// </summary>
public static class EditCircuits
{
    /// <summary>The channels that write weights; memit and alphaedit write every change in one batch, the others one change at a time.</summary>
    public static readonly IReadOnlyList<string> Channels = ["rome", "memit", "alphaedit", "ft-l", "ft"];
    static readonly IReadOnlyList<string> BatchChannels = ["memit", "alphaedit"];
    const int TopNodes = 5;

    /// <summary>A fact's two circuit examples: the edit prompt with the old object as target, and with the new one.</summary>
    sealed record Pair(CircuitExample Old, CircuitExample New);

    /// <summary>One fact read on one model state: the circuit for a target, where each object first ranks top, the mover heads.</summary>
    sealed record Reading(Circuit Circuit, int? OldTop, int? NewTop, int Movers);

    /// <summary>
    /// The rewiring of each channel of <paramref name="methods"/> that writes weights (<see cref="Channels"/>, in the given order);
    /// <paramref name="editorFor"/> makes a fresh editor per channel; <paramref name="progress"/> hears (what, done, total).
    /// </summary>
    public static EditCircuitReport Compare(Gpt model, ITextTokenizer tokenizer, World world, int knowledgeEpoch, IReadOnlyList<FactChange> changes,
        IReadOnlyList<string> methods, Func<string, IKnowledgeEditor> editorFor, EditCircuitOptions? options = null, Action<string, int, int>? progress = null)
    {
        options ??= new EditCircuitOptions();
        if (options.Facts < 1) throw new ArgumentOutOfRangeException(nameof(options), options.Facts, "trace at least one fact");
        var graph = ComputationGraph.For(model);
        var requests = changes.Select(c => EditEvaluation.RequestFor(world, c)).ToList();
        var changed = changes.Select(c => (c.Subject, c.Relation)).ToHashSet();
        var pairs = changes.Take(options.Facts).Select(c => PairFor(tokenizer, world, c, knowledgeEpoch, changed)).ToList();
        var traced = Enumerable.Range(0, pairs.Count).Where(i => pairs[i] is not null).ToList();

        var clock = Stopwatch.StartNew();
        var before = pairs.Select(p => p is null ? null : Read(model, graph, p, p.Old, options)).ToList();
        var reference = pairs.Select(p => p is null ? null : Read(model, graph, p, p.New, options)).ToList();
        var untouched = Summarise("none", pairs.Count, before, reference, reference, clock.Elapsed.TotalSeconds);

        var channels = new Dictionary<string, CircuitRewiring>();
        foreach (var method in methods.Where(Channels.Contains))
        {
            clock.Restart();
            var editor = editorFor(method);
            var after = new Reading?[pairs.Count];
            if (BatchChannels.Contains(method))
            {
                progress?.Invoke($"{method} circuits (batch of {requests.Count})", 0, 1);
                var readings = EditEvaluation.AllAtOnce(model, tokenizer, requests, editor, () => traced.Select(i => Read(model, graph, pairs[i]!, pairs[i]!.New, options)).ToList()).Value;
                foreach (var (i, r) in traced.Zip(readings)) after[i] = r;
            }
            else
            {
                var readings = EditEvaluation.EachAlone(model, tokenizer, traced.Select(i => requests[i]).ToList(), editor,
                    j => Read(model, graph, pairs[traced[j]]!, pairs[traced[j]]!.New, options), done => progress?.Invoke($"{method} circuits", done, traced.Count));
                foreach (var (i, r) in traced.Zip(readings)) after[i] = r.Value;
            }
            channels[method] = Summarise(BatchChannels.Contains(method) ? "one batch" : "each alone", pairs.Count, before, reference, after, clock.Elapsed.TotalSeconds);
        }
        return new EditCircuitReport(pairs.Count, options.EdgeFraction, options.IgSteps, options.Selection, graph.Edges.Count, untouched, channels);
    }

    /// <summary>
    /// The change's two examples with one corruption: a partner subject the run leaves unchanged, whose own answer differs from
    /// both objects' first tokens, so the metric is target − the partner's answer both times (Hanna et al. 2024). Without such a
    /// partner of another answer, every other candidate is the contrast; without any partner, null (not traced).
    /// </summary>
    static Pair? PairFor(ITextTokenizer tokenizer, World world, FactChange change, int epoch, IReadOnlySet<(int, string)> changed)
    {
        string newObject = world[change.NewObject].Name;
        int newToken = tokenizer.Encode(" " + newObject)[0];
        var old = FactCircuits.Example(tokenizer, world, new Fact(change.Subject, change.Relation, change.OldObject), "str", epoch,
            (partner, answer) => answer != newToken && !changed.Contains((partner, change.Relation)));
        if (old is null) return null;
        var distractors = old.Distractors.Contains(newToken) ? old.Candidates.Where(c => c != newToken).ToArray() : old.Distractors;
        return new Pair(old, old with { Prompt = old.Prompt with { Target = newObject, TargetToken = newToken }, Distractors = distractors });
    }

    static Reading Read(Gpt model, ComputationGraph graph, Pair pair, CircuitExample target, EditCircuitOptions options)
    {
        var scores = EapIg.Scores(model, [target], new CircuitOptions(IgSteps: options.IgSteps))[0];
        var circuit = Circuit.Select(graph, scores, options.EdgeFraction, options.Selection);
        int movers = HeadRoles.Label(model, target, circuit).Count(r => r.Role == HeadRole.Mover);
        return new Reading(circuit, FirstTopLayer(model, pair.Old.Prompt), FirstTopLayer(model, pair.New.Prompt), movers);
    }

    /// <summary>The first layer whose output ranks the prompt's target top in the logit lens (−1: the embeddings), or null.</summary>
    static int? FirstTopLayer(Gpt model, FactPrompt prompt)
    {
        var lens = LogitLens.Run(model, prompt);
        for (int i = 0; i < lens.Count; i++)
            if (lens[i].Rank == 1) return i - 1;
        return null;
    }

    static CircuitRewiring Summarise(string applied, int facts, IReadOnlyList<Reading?> before, IReadOnlyList<Reading?> reference, IReadOnlyList<Reading?> after, double seconds)
    {
        var traced = Enumerable.Range(0, facts).Where(i => before[i] is not null && after[i] is not null).ToList();
        var diffs = traced.Select(i => CircuitDiff.Compare(before[i]!.Circuit, after[i]!.Circuit)).ToList();
        static double Mean(IEnumerable<double> values) => values.DefaultIfEmpty(double.NaN).Average();
        static IReadOnlyList<NodeCount> Most(IEnumerable<string> nodes) => nodes.GroupBy(n => n)
            .Select(g => new NodeCount(g.Key, g.Count())).OrderByDescending(n => n.Facts).ThenBy(n => n.Node, StringComparer.Ordinal).Take(TopNodes).ToList();
        int layers = before.Concat(after).OfType<Reading>().Select(r => r.Circuit.Graph.Layers).FirstOrDefault();
        FirstTop Where(Func<Reading, int?> pick, IReadOnlyList<Reading?> readings) => Histogram(traced.Select(i => pick(readings[i]!)), layers);
        return new CircuitRewiring
        {
            Applied = applied,
            Facts = facts,
            Traced = traced.Count,
            TracedShare = facts == 0 ? double.NaN : traced.Count / (double)facts,
            EdgeJaccard = Mean(diffs.Select(d => d.EdgeJaccard)),
            WeightedOverlap = Mean(diffs.Select(d => d.WeightedOverlap)),
            EdgesGained = Mean(diffs.Select(d => (double)d.EdgesOnlyInB)),
            EdgesLost = Mean(diffs.Select(d => (double)d.EdgesOnlyInA)),
            SameTargetJaccard = Mean(traced.Select(i => CircuitDiff.Compare(reference[i]!.Circuit, after[i]!.Circuit).EdgeJaccard)),
            NodesGained = Most(diffs.SelectMany(d => d.NodesGained)),
            NodesLost = Most(diffs.SelectMany(d => d.NodesLost)),
            NewObject = new LensShift(Where(r => r.NewTop, before), Where(r => r.NewTop, after)),
            OldObject = new LensShift(Where(r => r.OldTop, before), Where(r => r.OldTop, after)),
            MoversBefore = Mean(traced.Select(i => (double)before[i]!.Movers)),
            MoversAfter = Mean(traced.Select(i => (double)after[i]!.Movers)),
            Seconds = seconds,
        };
    }

    static FirstTop Histogram(IEnumerable<int?> firstLayers, int layers)
    {
        static string Name(int layer) => layer < 0 ? "embedding" : $"layer {layer}";
        var byLayer = Enumerable.Range(-1, layers + 1).ToDictionary(Name, _ => 0);
        byLayer["never"] = 0;
        var all = firstLayers.ToList();
        foreach (var layer in all) byLayer[layer is int l ? Name(l) : "never"]++;
        var reached = all.OfType<int>().Select(l => (double)l).ToList();
        return new FirstTop(reached.Count == 0 ? double.NaN : reached.Average(), byLayer);
    }
}
