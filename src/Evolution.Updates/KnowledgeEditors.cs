using Evolution.Core;
using Evolution.Core.Model;
using Evolution.Core.Worlds;

namespace Evolution.Updates;

/// <summary>
/// The corpus ROME and MEMIT read besides the model: the key covariance C and the random prefixes come from the agent's
/// own training corpus, as ROME's come from the model's pre-training data. Built on first use (fine-tuning never needs it)
/// and shared by every editor made from it, so each layer's statistics are computed once. <see cref="KeyStatistics.Knowledge"/> is
/// what the agent was taught, fact by fact, as the prompts it recalls each fact from (AlphaEdit's preserved knowledge).
/// </summary>
public sealed class EditorCorpus(Func<IReadOnlyList<string>> build, Func<IReadOnlyList<IReadOnlyList<string>>>? knowledge = null)
{
    IReadOnlyList<string>? documents;
    KeyStatistics? statistics;

    /// <summary>The corpus of an agent trained on <paramref name="data"/> of <paramref name="world"/> with <paramref name="seed"/>.</summary>
    public static EditorCorpus Of(World world, DataMix data, int seed) =>
        new(() => CorpusBuilder.Build(world, data, seed).Documents, () => KnowledgeOf(world, data));

    public IReadOnlyList<string> Documents => documents ??= build();
    public KeyStatistics Statistics => statistics ??= new KeyStatistics(Documents, knowledge?.Invoke());

    /// <summary>
    /// Every fact the agent was taught (its epoch, the subjects it covers), each as its training templates that end where
    /// the object follows: "Kemtaro Drassil was born in", "Q: Where was Kemtaro Drassil born? A:", … The first is the
    /// canonical statement, the prompt an edit of that fact is written at (<see cref="EditEvaluation.RequestFor"/>).
    /// </summary>
    public static IReadOnlyList<IReadOnlyList<string>> KnowledgeOf(World world, DataMix data)
    {
        var covered = Coverage.Subjects(world, data);
        return world.FactsAt(data.Epoch).Where(f => covered.Contains(f.Subject)).Select(f =>
        {
            var relation = RelationCatalogue.Get(f.Relation);
            var name = world[f.Subject].Name;
            var canonical = world.CanonicalStatement(relation);
            return (IReadOnlyList<string>)[canonical.Prompt(name), .. world.TrainingTemplates(relation).Where(t => t.IsQuery && t != canonical).Select(t => t.Prompt(name))];
        }).ToList();
    }
}

/// <summary>
/// Changes to a method's default hyper-parameters (its record's defaults); null keeps the default. Each is one option of
/// <c>evolution edit</c> with the same name (<c>--steps</c>, <c>--learning-rate</c>, <c>--layer</c>, <c>--layers</c>,
/// <c>--position</c>, <c>--weight-decay</c>, <c>--kl-factor</c>, <c>--essence</c>, <c>--covariance-weight</c>, <c>--norm-constraint</c>, <c>--null-space-threshold</c>, <c>--ridge</c>, <c>--preserve</c>, <c>--key-prompts</c>), and a mistake is
/// reported under that option's name.
/// </summary>
public sealed record EditorOverrides
{
    /// <summary>rome, memit, alphaedit, ft-l, ft.</summary>
    public int? Steps { get; init; }
    /// <summary>rome, memit, alphaedit, ft-l, ft.</summary>
    public double? LearningRate { get; init; }
    /// <summary>rome: the MLP layer to rewrite.</summary>
    public int? Layer { get; init; }
    /// <summary>memit, alphaedit: the MLP layers R.</summary>
    public IReadOnlyList<int>? Layers { get; init; }
    /// <summary>rome, memit, alphaedit.</summary>
    public EditPosition? Position { get; init; }
    /// <summary>rome, memit, alphaedit.</summary>
    public double? WeightDecay { get; init; }
    /// <summary>rome: the essence-drift KL weight.</summary>
    public double? KlFactor { get; init; }
    /// <summary>rome: which prompts the KL term keeps.</summary>
    public EssenceSource? Essence { get; init; }
    /// <summary>memit: λ.</summary>
    public double? CovarianceWeight { get; init; }
    /// <summary>ft-l: ε.</summary>
    public double? NormConstraint { get; init; }
    /// <summary>alphaedit: the null space's eigenvalue bound, relative to the largest.</summary>
    public double? NullSpaceThreshold { get; init; }
    /// <summary>alphaedit: α.</summary>
    public double? Ridge { get; init; }
    /// <summary>alphaedit: whose keys the null space leaves alone.</summary>
    public PreservedKeys? Preserve { get; init; }
    /// <summary>alphaedit: which prompts each change's key and δ are taken over.</summary>
    public KeyPrompts? Keys { get; init; }
}

/// <summary>
/// The one place knowledge editors are made (EasyEdit's <c>BaseEditor.from_hparams</c>): a method name, one hyper-parameter
/// record per method whose defaults are the documented ones (<see cref="RomeHyperParams"/>, <see cref="MemitHyperParams"/>, <see cref="AlphaEditHyperParams"/>,
/// <see cref="FtLHyperParams"/>, <see cref="FtHyperParams"/>), and optional overrides. <c>edit</c>, <c>compare-updates</c>
/// and scenario agents all come through here, so the same method runs with the same settings everywhere.
/// </summary>
public static class KnowledgeEditors
{
    public static IReadOnlyList<string> Methods { get; } = ["rome", "memit", "alphaedit", "ft-l", "ft"];

    /// <summary>A method's hyper-parameter record with its defaults.</summary>
    public static object Defaults(string method) => method switch
    {
        "rome" => new RomeHyperParams(),
        "memit" => new MemitHyperParams(),
        "alphaedit" => new AlphaEditHyperParams(),
        "ft-l" => new FtLHyperParams(),
        "ft" => new FtHyperParams(),
        _ => throw UnknownMethod(method),
    };

    /// <summary>
    /// A method's defaults with <paramref name="overrides"/> applied, checked against the model's shape; an override that does
    /// not apply to the method or is out of range is an <see cref="InputException"/> naming its option.
    /// </summary>
    public static object HyperParams(string method, GptConfig config, EditorOverrides? overrides = null)
    {
        var o = overrides ?? new EditorOverrides();
        bool locates = method is "rome" or "memit" or "alphaedit";
        Reject(o.Layer is not null && method != "rome", "--layer", "applies to rome only");
        Reject(o.Layers is not null && method is not ("memit" or "alphaedit"), "--layers", "applies to memit and alphaedit only");
        Reject(o.CovarianceWeight is not null && method is not ("memit" or "alphaedit"), "--covariance-weight", "applies to memit and alphaedit only");
        Reject(o.NormConstraint is not null && method != "ft-l", "--norm-constraint", "applies to ft-l only");
        Reject(o.NullSpaceThreshold is not null && method != "alphaedit", "--null-space-threshold", "applies to alphaedit only");
        Reject(o.Position is not null && !locates, "--position", "applies to rome, memit and alphaedit only");
        Reject(o.WeightDecay is not null && !locates, "--weight-decay", "applies to rome, memit and alphaedit only");
        Reject(o.KlFactor is not null && method != "rome", "--kl-factor", "applies to rome only");
        Reject(o.Essence is not null && method != "rome", "--essence", "applies to rome only");
        Reject(o.Ridge is not null && method != "alphaedit", "--ridge", "applies to alphaedit only");
        Reject(o.Preserve is not null && method != "alphaedit", "--preserve", "applies to alphaedit only");
        Reject(o.Keys is not null && method != "alphaedit", "--key-prompts", "applies to alphaedit only");
        CheckValues(o);
        bool IsLayer(int l) => l >= 0 && l < config.NLayers;
        string Range(object got) => $"must be a layer between 0 and {config.NLayers - 1}, got {got}";

        switch (Defaults(method))
        {
            case RomeHyperParams rome:
                rome = rome with
                {
                    Layer = o.Layer ?? rome.Layer, Steps = o.Steps ?? rome.Steps, LearningRate = o.LearningRate ?? rome.LearningRate,
                    Position = o.Position ?? rome.Position, WeightDecay = o.WeightDecay ?? rome.WeightDecay,
                    KlFactor = o.KlFactor ?? rome.KlFactor, Essence = o.Essence ?? rome.Essence,
                };
                Reject(!IsLayer(rome.Layer), "--layer", Range(rome.Layer));
                return rome;
            case MemitHyperParams memit:
                memit = memit with
                {
                    Layers = o.Layers?.Distinct().ToList() ?? memit.Layers, Steps = o.Steps ?? memit.Steps, LearningRate = o.LearningRate ?? memit.LearningRate,
                    Position = o.Position ?? memit.Position, WeightDecay = o.WeightDecay ?? memit.WeightDecay, CovarianceWeight = o.CovarianceWeight ?? memit.CovarianceWeight,
                };
                Reject(memit.Layers is { Count: 0 }, "--layers", "names no layer");
                foreach (var l in memit.Layers ?? []) Reject(!IsLayer(l), "--layers", Range(l));
                return memit;
            case AlphaEditHyperParams alpha:
                alpha = alpha with
                {
                    Layers = o.Layers?.Distinct().ToList() ?? alpha.Layers, Steps = o.Steps ?? alpha.Steps, LearningRate = o.LearningRate ?? alpha.LearningRate,
                    Position = o.Position ?? alpha.Position, WeightDecay = o.WeightDecay ?? alpha.WeightDecay,
                    NullSpaceThreshold = o.NullSpaceThreshold ?? alpha.NullSpaceThreshold, Ridge = o.Ridge ?? alpha.Ridge, Preserve = o.Preserve ?? alpha.Preserve,
                    Keys = o.Keys ?? alpha.Keys, CovarianceWeight = o.CovarianceWeight ?? alpha.CovarianceWeight,
                };
                Reject(alpha.Layers is { Count: 0 }, "--layers", "names no layer");
                foreach (var l in alpha.Layers ?? []) Reject(!IsLayer(l), "--layers", Range(l));
                return alpha;
            case FtLHyperParams ftL:
                return ftL with { Steps = o.Steps ?? ftL.Steps, LearningRate = o.LearningRate ?? ftL.LearningRate, NormConstraint = o.NormConstraint ?? ftL.NormConstraint };
            case FtHyperParams ft:
                return ft with { Steps = o.Steps ?? ft.Steps, LearningRate = o.LearningRate ?? ft.LearningRate };
            default:
                throw UnknownMethod(method);
        }
    }

    /// <summary>
    /// The editor of a method with its defaults and <paramref name="overrides"/>; see <see cref="HyperParams"/>. Each call makes a
    /// new editor: alphaedit's remembers the edits it wrote (<see cref="AlphaEditEditor"/>), so one sequence of edits takes one editor.
    /// </summary>
    public static IKnowledgeEditor Create(string method, GptConfig config, EditorCorpus corpus, EditorOverrides? overrides = null) =>
        Create(HyperParams(method, config, overrides), corpus);

    /// <summary>The editor a hyper-parameter record describes (its type names the method).</summary>
    public static IKnowledgeEditor Create(object hyperParams, EditorCorpus corpus) => hyperParams switch
    {
        RomeHyperParams rome => new RomeEditor(rome, corpus.Statistics, corpus.Documents),
        MemitHyperParams memit => new MemitEditor(memit, corpus.Statistics, corpus.Documents),
        AlphaEditHyperParams alpha => new AlphaEditEditor(alpha, corpus.Statistics, corpus.Documents),
        FtLHyperParams ftL => new FineTuningEditor(ftL),
        FtHyperParams ft => new FineTuningEditor(ft),
        _ => throw new ArgumentException($"{hyperParams.GetType().Name} is not the hyper-parameter record of an editor", nameof(hyperParams)),
    };

    /// <summary>
    /// The overrides' values, whatever the method and model: a value out of range is an <see cref="InputException"/> naming its
    /// option. <see cref="HyperParams"/> checks them too; a command can call this first, before it trains or loads an agent.
    /// </summary>
    public static void CheckValues(EditorOverrides o)
    {
        Reject(o.KlFactor is < 0, "--kl-factor", $"must not be negative, got {o.KlFactor}");
        Reject(o.Steps is < 0, "--steps", $"must not be negative, got {o.Steps}");
        Reject(o.LearningRate is <= 0, "--learning-rate", $"must be positive, got {o.LearningRate}");
        Reject(o.WeightDecay is < 0, "--weight-decay", $"must not be negative, got {o.WeightDecay}");
        Reject(o.CovarianceWeight is <= 0, "--covariance-weight", $"must be positive, got {o.CovarianceWeight}");
        Reject(o.NormConstraint is <= 0, "--norm-constraint", $"must be positive, got {o.NormConstraint}");
        Reject(o.NullSpaceThreshold is <= 0, "--null-space-threshold", $"must be positive, got {o.NullSpaceThreshold}");
        Reject(o.Ridge is <= 0, "--ridge", $"must be positive, got {o.Ridge}");
    }

    static void Reject(bool wrong, string option, string problem)
    {
        if (wrong) throw new InputException(null, option, problem);
    }

    static InputException UnknownMethod(string method) =>
        new(null, "--method", $"unknown method '{method}' (available: {string.Join(", ", Methods)})");
}
