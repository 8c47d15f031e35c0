using System.CommandLine;
using Evolution.Agents;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Updates;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution edit</c>: write a fact into an agent's weights and measure reliability, generalisation, locality, portability.</summary>
public static class EditCommand
{
    static readonly RomeHyperParams Rome = new();
    static readonly MemitHyperParams Memit = new();
    static readonly AlphaEditHyperParams AlphaEdit = new();
    static readonly FtLHyperParams FtL = new();
    static readonly FtHyperParams Ft = new();

    static string PositionName(EditPosition position) => position == EditPosition.SubjectLast ? "subject" : "prompt";
    static string EssenceName(EssenceSource essence) => essence == EssenceSource.IsA ? "is-a" : "subject-facts";

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "agent checkpoint folder (its world provides the metrics' queries)", Required = true };
        var method = new Option<string>("--method") { Description = "rome (rank-one model editing), memit (batch over layers; --changes N is one batch), alphaedit (MEMIT projected onto the null space of the agent's own keys; --changes N is one batch), ft-l (constrained fine-tuning of one MLP layer) or ft (plain fine-tuning); each with the defaults agents and compare-updates use", DefaultValueFactory = _ => "rome" };
        var layer = new Option<int?>("--layer") { Description = $"rome: MLP layer to rewrite (default {Rome.Layer})" };
        var memitLayers = LayersOption();
        var covarianceWeight = CovarianceWeightOption();
        var nullSpaceThreshold = NullSpaceThresholdOption();
        var ridge = RidgeOption();
        var preserve = new Option<string?>("--preserve") { Description = PreserveDescription };
        var keyPrompts = new Option<string?>("--key-prompts") { Description = KeyPromptsDescription };
        var position = new Option<string?>("--position") { Description = $"rome, memit, alphaedit: where keys are read and the value written, subject (the subject's last token) or prompt (the prompt's last token); defaults: rome {PositionName(Rome.Position)}, memit and alphaedit {PositionName(Memit.Position)}" };
        var klFactor = new Option<double?>("--kl-factor") { Description = $"rome: weight of the essence-drift KL term (default {Rome.KlFactor})" };
        var essence = new Option<string?>("--essence") { Description = $"rome: prompts the KL term keeps, is-a (ROME's \"{{subject}} is a\") or subject-facts (also the subject's other relations, held-out templates) (default {EssenceName(Rome.Essence)})" };
        var subject = new Option<string?>("--subject") { Description = "subject entity" };
        var relation = new Option<string?>("--relation") { Description = "relation to change" };
        var newObject = new Option<string?>("--new") { Description = "the new object" };
        var changes = new Option<int>("--changes") { Description = "instead of one edit: the world's changes at the next epoch, topped up with seeded counterfactuals to N, one at a time (averaged)" };
        var weightDecay = WeightDecayOption();
        var steps = new Option<int?>("--steps") { Description = $"optimisation steps (defaults: rome {Rome.Steps}, memit {Memit.Steps}, alphaedit {AlphaEdit.Steps}, ft-l {FtL.Steps}, ft {Ft.Steps})" };
        var epsilon = new Option<double?>("--norm-constraint") { Description = $"ft-l: L∞ bound ε on each weight's change (default {FtL.NormConstraint}; EasyEdit's 5e-4 changes nothing on our agents)" };
        var learningRate = new Option<double?>("--learning-rate") { Description = $"Adam step size (defaults: rome {Rome.LearningRate}, memit {Memit.LearningRate}, alphaedit {AlphaEdit.LearningRate}, ft-l {FtL.LearningRate}, ft {Ft.LearningRate})" };
        var sequential = new Option<bool>("--sequential") { Description = "with --changes N: keep every edit applied and report metrics after 1, 10, 100, ... edits" };
        var save = new Option<string?>("--save")
        {
            Description = "write the edited agent as a checkpoint folder, with the source's world and profile (ask, trace, edit and compare-updates --model read it) and edit.json listing the edits; "
                + "which edits it holds: memit and alphaedit the batch, --sequential every edit in order, otherwise (single edits, each measured alone) every edit of the run applied one after another",
        };
        var facts = new Option<string?>("--facts") { Description = "instead of the agent's world: edit any model folder (Hugging Face or agent) on a CounterFact- or zsRE-format file, as compare-updates --facts with this one method (the first --changes N records; writes compare.json into --out)" };
        var output = new Option<string>("--out") { Description = "with --facts: folder for compare.json and compare.md", DefaultValueFactory = _ => Path.Combine("results", "edit") };
        var corpus = new Option<string?>("--corpus") { Description = "with --facts: text for the key statistics, one document per line (see compare-updates --corpus)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var command = new Command("edit", "Edit a fact into an agent's weights and report EasyEdit's metrics (the checkpoint on disk is not changed; --save writes the edited agent to a new folder).")
            { model, method, subject, relation, newObject, changes, steps, epsilon, learningRate, layer, memitLayers, covarianceWeight, nullSpaceThreshold, ridge, preserve, keyPrompts, weightDecay, klFactor, essence, position, sequential, save, json, device };
        command.Options.Add(facts);
        command.Options.Add(corpus);
        command.Options.Add(output);
        var start = new PromptStartOptions();
        start.AddTo(command);
        Option[] worldOnly = [subject, relation, newObject, save, layer, memitLayers, covarianceWeight, nullSpaceThreshold, ridge, preserve, keyPrompts, weightDecay, klFactor, essence, position, steps, epsilon, learningRate];
        command.SetAction(parse => parse.GetValue(facts) is { } factsPath
            ? CompareFacts.Run(new CompareFacts.Arguments(factsPath, parse.GetRequiredValue(model), parse.GetValue(corpus),
                parse.GetValue(sequential) || parse.GetValue(changes) == 0 ? null : parse.GetValue(changes), parse.GetValue(method),
                parse.GetValue(sequential) ? parse.GetValue(changes) : null, 1, parse.GetValue(output)!, parse.GetValue(json), parse.GetValue(device)!,
                start.LeftOut(parse),
                // The fact-set mode runs each method with FactSetEvaluation's depth-scaled defaults and keeps nothing on disk.
                [.. worldOnly.Where(o => parse.GetResult(o) is { Implicit: false }).Select(o => o.Name)]))
            : parse.GetValue(corpus) is not null ? throw new InputException(null, "--corpus", "applies with --facts only")
            : parse.GetResult(output) is { Implicit: false } ? throw new InputException(null, "--out", "applies with --facts only (--save writes an edited agent)")
            : Run(parse.GetRequiredValue(model), parse.GetValue(method)!, parse.GetValue(subject), parse.GetValue(relation),
            parse.GetValue(newObject), parse.GetValue(changes), parse.GetValue(steps), parse.GetValue(epsilon), parse.GetValue(learningRate), parse.GetValue(layer), parse.GetValue(memitLayers), parse.GetValue(covarianceWeight), parse.GetValue(nullSpaceThreshold), parse.GetValue(ridge), parse.GetValue(preserve), parse.GetValue(keyPrompts), parse.GetValue(weightDecay), parse.GetValue(klFactor), parse.GetValue(essence), parse.GetValue(position), parse.GetValue(sequential),
            parse.GetValue(save), parse.GetValue(json), parse.GetValue(device)!, start.LeftOut(parse)));
        return command;
    }

    static int Run(string modelDir, string methodName, string? subject, string? relationName, string? newObject, int changeCount, int? steps,
        double? epsilon, double? learningRate, int? layer, string? memitLayers, double? covarianceWeight, double? nullSpaceThreshold, double? ridge, string? preserveName, string? keyPromptsName, double? weightDecay, double? klFactor, string? essenceName, string? positionName, bool sequential, string? saveDir, bool json, string deviceName, bool withoutStart)
    {
        if (!KnowledgeEditors.Methods.Contains(methodName)) throw new InputException(null, "--method", $"unknown method '{methodName}' (available: {string.Join(", ", KnowledgeEditors.Methods)})");
        var worldFile = Path.Combine(modelDir, AgentTraining.WorldFile);
        if (!File.Exists(worldFile)) throw new InputException(modelDir, "--model", "not an agent checkpoint (no world.yaml): the metrics need the agent's world");
        if (saveDir is not null) DerivedCheckpoint.CheckTarget(modelDir, saveDir, "--save");
        var (model, loaded) = Checkpoint.Load(modelDir, Devices.Parse(deviceName));
        var tokenizer = StartToken.Apply(loaded, withoutStart);
        var world = World.Generate(WorldSpec.Load(worldFile));
        var profileFile = Path.Combine(modelDir, AgentTraining.ProfileFile);
        var profile = File.Exists(profileFile) ? AgentProfile.Load(profileFile) : AgentProfile.Default;
        int knowledgeEpoch = profile.Data.Epoch;

        var position = Position(positionName);
        var essence = Choice(essenceName, "--essence", ("is-a", EssenceSource.IsA), ("subject-facts", EssenceSource.SubjectFacts));
        var preserve = Preserve(preserveName);
        var keys = KeyPromptsOf(keyPromptsName);
        var layers = Layers(memitLayers);
        var overrides = new EditorOverrides
        {
            Steps = steps, LearningRate = learningRate, Layer = layer, Layers = layers, Position = position,
            WeightDecay = weightDecay, KlFactor = klFactor, Essence = essence, CovarianceWeight = covarianceWeight, NormConstraint = epsilon, NullSpaceThreshold = nullSpaceThreshold, Ridge = ridge, Preserve = preserve, Keys = keys,
        };
        // The same factory and defaults as agents and compare-updates; the corpus is built only if the method reads it.
        var hyper = KnowledgeEditors.HyperParams(methodName, model.Config, overrides);
        var editor = KnowledgeEditors.Create(hyper, EditorCorpus.Of(world, profile.Data, profile.Training.Seed));

        List<FactChange> edits;
        if (changeCount > 0)
        {
            // The world's own changes at the next epoch first, then seeded counterfactuals up to N.
            edits = WorldChanges.Select(world, knowledgeEpoch, changeCount);
        }
        else
        {
            if (subject is null || relationName is null || newObject is null)
                throw new InputException(null, subject is null ? "--subject" : relationName is null ? "--relation" : "--new", "required (or use --changes N)");
            var entity = world.FindByName(subject) ?? throw new InputException(null, "--subject", $"no entity named '{subject}' in this agent's world");
            var relation = world.Relations.FirstOrDefault(r => r.Name == relationName) ?? throw new InputException(null, "--relation", $"unknown relation '{relationName}'");
            if (relation.SubjectType != entity.Type) throw new InputException(null, "--relation", $"'{relation.Name}' needs a {relation.SubjectType}, '{subject}' is a {entity.Type}");
            var target = world.FindByName(newObject);
            if (target is null || target.Type != relation.ObjectType) throw new InputException(null, "--new", $"'{newObject}' is not a {relation.ObjectType} of this world");
            edits = [new FactChange(knowledgeEpoch + 1, entity.Id, relation.Name, world.ObjectOf(entity.Id, relation.Name, knowledgeEpoch), target.Id)];
        }

        // One probe set for the run (neighbours exclude every changed fact), scored on the bare weights as compare-updates scores agents.
        var probes = EditProbes.For(world, edits, knowledgeEpoch, EditMetrics.Weights(model, tokenizer));
        // AlphaEdit's null-space dimension per layer is reported with its results (it decides what an edit can write).
        var alphaEdit = editor as AlphaEditEditor;
        var nullSpace = alphaEdit?.NullSpaceDimensions(model, tokenizer);
        bool batchMode = methodName is "memit" or "alphaedit" && !sequential;
        // The edited agent on disk, written while its edits are in the weights (the in-memory model is restored afterwards).
        Action? saveEdited = saveDir is null ? null : () => DerivedCheckpoint.Save(modelDir, saveDir, model, tokenizer, new Dictionary<string, string>
        {
            ["edit.json"] = Output.ToJson(new
            {
                source = Path.GetFullPath(modelDir),
                method = methodName,
                hyper_params = hyper,
                applied = batchMode ? "one batch" : sequential ? "sequential" : "one after another",
                edits = edits.Select(c => new { subject = world[c.Subject].Name, relation = c.Relation, old_object = world[c.OldObject].Name, new_object = world[c.NewObject].Name }).ToList(),
            }),
        });
        string? saved = saveDir is null ? null : Path.GetFullPath(saveDir);
        if (batchMode)
        {
            SequentialPoint batch = null!;
            Output.WithProgress($"{methodName} batch of {edits.Count}", 1, report => { batch = EditEvaluation.Batch(model, tokenizer, probes, editor, saveEdited); return 0; });
            var result = new { method = methodName, hyper_params = hyper, null_space = nullSpace, null_space_use = alphaEdit?.NullSpaceLog, batch, saved };
            if (json) Output.Json(result);
            else Output.Status.WriteLine(Output.ToJson(result));
            return 0;
        }
        if (sequential)
        {
            if (changeCount <= 0) throw new InputException(null, "--sequential", "needs --changes N");
            IReadOnlyList<SequentialPoint> curve = [];
            Output.WithProgress($"{methodName} sequential edits", edits.Count, report =>
            {
                curve = EditEvaluation.Sequential(model, tokenizer, probes, editor, n => report(n, $"{methodName}: {n}/{edits.Count} edits applied"), saveEdited);
                return 0;
            });
            var result = new { method = methodName, hyper_params = hyper, null_space = nullSpace, null_space_use = alphaEdit?.NullSpaceLog, sequential = curve, saved };
            if (json) Output.Json(result);
            else Output.Status.WriteLine(Output.ToJson(result));
            return 0;
        }

        IReadOnlyList<EditScore> scores = [];
        Output.WithProgress($"{methodName} edits", edits.Count, report =>
        {
            scores = EditEvaluation.Singles(model, tokenizer, probes, editor, n => report(n, $"{methodName}: {n}/{edits.Count} edits"));
            return 0;
        });
        if (saveEdited is not null)
        {
            // Single edits are measured each alone; the saved agent holds all of them, applied one after another.
            var requests = probes.Select(p => p.Request).ToList();
            Output.WithProgress($"{methodName} edits for --save", edits.Count, report => EditEvaluation.EditSequentially(model, tokenizer, requests, editor, n =>
            {
                if (n == requests.Count) saveEdited();
                return n;
            }, n => report(n, $"{methodName}: {n}/{edits.Count} edits applied")));
        }
        double Mean(Func<EditScore, double> pick) => EditMetrics.MeanDefined(scores.Select(pick));
        var summary = new
        {
            method = methodName,
            hyper_params = hyper,
            edits = scores.Count,
            reliability = Mean(x => x.Reliability),
            generalization = Mean(x => x.Generalization),
            locality = Mean(x => x.Locality),
            relation_locality = Mean(x => x.RelationLocality),
            subject_locality = Mean(x => x.SubjectLocality),
            portability = Mean(x => x.Portability),
            success = SuccessRates.Mean(scores.Select(x => x.Success).ToList()),
            seconds_per_update = Mean(x => x.SecondsPerUpdate),
            bytes_per_update = Mean(x => x.BytesStored),
            saved,
            // Each edit on its own, to find the ones a method fails.
            per_edit = edits.Zip(scores, (change, score) => new
            {
                subject = world[change.Subject].Name,
                relation = change.Relation,
                old_object = world[change.OldObject].Name,
                new_object = world[change.NewObject].Name,
                reliability = score.Reliability,
                generalization = score.Generalization,
                locality = score.Locality,
                relation_locality = score.RelationLocality,
                subject_locality = score.SubjectLocality,
                portability = score.Portability,
                success = score.Success,
            }).ToList(),
        };
        if (json) Output.Json(summary);
        else Output.Status.WriteLine(Output.ToJson(summary));
        return 0;
    }

    internal const string PreserveDescription = "alphaedit: whose keys the null space leaves alone, corpus (every token of the agent's corpus, the paper's choice) or knowledge (every fact the agent was taught, at the prompts it recalls them from, but the facts being rewritten) (default corpus)";

    internal const string KeyPromptsDescription = "alphaedit: the prompts each change's key and value are taken over, edit (the edit prompt, the paper's) or fact (every prompt the agent was taught the fact with, the edit prompt first) (default edit)";

    // Options edit and compare-updates share.
    internal static Option<string?> LayersOption() => new("--layers") { Description = "memit, alphaedit: comma-separated MLP layers (default: the last layer)" };
    internal static Option<double?> NullSpaceThresholdOption() => new("--null-space-threshold") { Description = $"alphaedit: the null space is spanned by the eigenvectors of the agent's key second moment with eigenvalues below this share of the largest (default {AlphaEdit.NullSpaceThreshold})" };
    /// <summary>--weight-decay, for ROME too (<c>edit</c>) or for MEMIT and AlphaEdit only (<c>compare-updates</c>, where ROME keeps its defaults).</summary>
    internal static Option<double?> WeightDecayOption(bool forRome = true) => new("--weight-decay")
    {
        Description = $"{(forRome ? "rome, " : "")}memit, alphaedit: penalty on ‖δ‖²/‖v‖² when optimising the value (defaults: {(forRome ? $"rome {Rome.WeightDecay}, " : "")}memit {Memit.WeightDecay}, alphaedit {AlphaEdit.WeightDecay})",
    };
    internal static Option<double?> CovarianceWeightOption() => new("--covariance-weight")
    {
        Description = $"memit: λ in (λC + KKᵀ)⁻¹ (default {Memit.CovarianceWeight}); alphaedit: λ on what the null space leaves of the preserved keys, (P(KpKpᵀ + KKᵀ + λC0) + αI)⁻¹ (default {AlphaEdit.CovarianceWeight}, the paper's)",
    };
    internal static Option<double?> RidgeOption() => new("--ridge") { Description = $"alphaedit: α in (P(KpKpᵀ + KKᵀ) + αI)⁻¹ (default {AlphaEdit.Ridge})" };

    /// <summary>MEMIT's and AlphaEdit's layer range R from <c>--layers</c> ("2,3"); null when not given.</summary>
    internal static List<int>? Layers(string? text) => text?.Split(',', StringSplitOptions.TrimEntries)
        .Select(x => int.TryParse(x, out var v) ? v : throw new InputException(null, "--layers", $"'{x}' is not a layer number")).ToList();

    /// <summary><c>--position</c>: subject or prompt; null when not given.</summary>
    internal static EditPosition? Position(string? name) => Choice(name, "--position", ("subject", EditPosition.SubjectLast), ("prompt", EditPosition.PromptLast));

    internal static PreservedKeys? Preserve(string? name) => Choice(name, "--preserve", ("corpus", PreservedKeys.Corpus), ("knowledge", PreservedKeys.Knowledge));

    internal static KeyPrompts? KeyPromptsOf(string? name) => Choice(name, "--key-prompts", ("edit", KeyPrompts.Edit), ("fact", KeyPrompts.Fact));

    /// <summary>The value an option names among <paramref name="choices"/>; null when the option was not given.</summary>
    internal static T? Choice<T>(string? name, string option, params (string Name, T Value)[] choices) where T : struct =>
        name is null ? null
        : choices.FirstOrDefault(c => c.Name == name) is { Name: not null } found ? found.Value
        : throw new InputException(null, option, $"unknown value '{name}' ({string.Join(" or ", choices.Select(c => c.Name))})");
}
