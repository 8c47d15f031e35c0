using System.CommandLine;
using Evolution.Agents;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Worlds;
using Evolution.Updates;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution edit</c>: write a fact into an agent's weights and measure reliability, generalisation, locality, portability.</summary>
public static class EditCommand
{
    static readonly string[] Methods = ["rome", "memit", "ft-l", "ft"];

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "agent checkpoint folder (its world provides the metrics' queries)", Required = true };
        var method = new Option<string>("--method") { Description = "rome (rank-one model editing), memit (batch over layers; --changes N is one batch), ft-l (constrained fine-tuning of one MLP layer) or ft (plain fine-tuning)", DefaultValueFactory = _ => "rome" };
        var layer = new Option<int?>("--layer") { Description = "rome: MLP layer to rewrite (default 0)" };
        var memitLayers = new Option<string?>("--layers") { Description = "memit: comma-separated MLP layers (default: the last layer)" };
        var covarianceWeight = new Option<double?>("--covariance-weight") { Description = $"memit: λ in (λC + KKᵀ)⁻¹ (default {new MemitHyperParams().CovarianceWeight})" };
        var position = new Option<string?>("--position") { Description = "rome, memit: where keys are read and the value written, subject (the subject's last token; rome's default) or prompt (the prompt's last token; memit's default)" };
        var subject = new Option<string?>("--subject") { Description = "subject entity" };
        var relation = new Option<string?>("--relation") { Description = "relation to change" };
        var newObject = new Option<string?>("--new") { Description = "the new object" };
        var changes = new Option<int>("--changes") { Description = "instead of one edit: the world's changes at the next epoch, topped up with seeded counterfactuals to N, one at a time (averaged)" };
        var weightDecay = new Option<double?>("--weight-decay") { Description = $"rome, memit: penalty on ‖δ‖²/‖v‖² when optimising the value (defaults: rome {new RomeHyperParams().WeightDecay}, memit {new MemitHyperParams().WeightDecay})" };
        var steps = new Option<int?>("--steps") { Description = "optimisation steps (method default if absent)" };
        var epsilon = new Option<double?>("--norm-constraint") { Description = $"FT-L: L∞ bound on each weight's change (default {AgentRuntime.FtLForAgents(new()).NormConstraint}, the agents'; EasyEdit's is 5e-4)" };
        var learningRate = new Option<double?>("--learning-rate") { Description = $"step size (defaults: ft-l {AgentRuntime.FtLForAgents(new()).LearningRate}, ft {AgentRuntime.FtForAgents().LearningRate}; rome {new RomeHyperParams().LearningRate}, memit {new MemitHyperParams().LearningRate})" };
        var sequential = new Option<bool>("--sequential") { Description = "with --changes N: keep every edit applied and report metrics after 1, 10, 100, ... edits" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var command = new Command("edit", "Edit a fact into an agent's weights and report EasyEdit's metrics (the checkpoint on disk is not changed).")
            { model, method, subject, relation, newObject, changes, steps, epsilon, learningRate, layer, memitLayers, covarianceWeight, weightDecay, position, sequential, json, device };
        command.SetAction(parse => Run(parse.GetRequiredValue(model), parse.GetValue(method)!, parse.GetValue(subject), parse.GetValue(relation),
            parse.GetValue(newObject), parse.GetValue(changes), parse.GetValue(steps), parse.GetValue(epsilon), parse.GetValue(learningRate), parse.GetValue(layer), parse.GetValue(memitLayers), parse.GetValue(covarianceWeight), parse.GetValue(weightDecay), parse.GetValue(position), parse.GetValue(sequential),
            parse.GetValue(json), parse.GetValue(device)!));
        return command;
    }

    static int Run(string modelDir, string methodName, string? subject, string? relationName, string? newObject, int changeCount, int? steps,
        double? epsilon, double? learningRate, int? layer, string? memitLayers, double? covarianceWeight, double? weightDecay, string? positionName, bool sequential, bool json, string deviceName)
    {
        if (!Methods.Contains(methodName)) throw new InputException(null, "--method", $"unknown method '{methodName}' (available: {string.Join(", ", Methods)})");
        var worldFile = Path.Combine(modelDir, AgentTraining.WorldFile);
        if (!File.Exists(worldFile)) throw new InputException(modelDir, "--model", "not an agent checkpoint (no world.yaml): the metrics need the agent's world");
        var (model, tokenizer) = Checkpoint.Load(modelDir, Devices.Parse(deviceName));
        var world = World.Generate(WorldSpec.Load(worldFile));
        var profileFile = Path.Combine(modelDir, AgentTraining.ProfileFile);
        var profile = File.Exists(profileFile) ? AgentProfile.Load(profileFile) : new AgentProfile();
        int knowledgeEpoch = profile.Data.Epoch;

        EditPosition? position = positionName switch
        {
            null => null,
            "subject" => EditPosition.SubjectLast,
            "prompt" => EditPosition.PromptLast,
            _ => throw new InputException(null, "--position", $"unknown position '{positionName}' (subject or prompt)"),
        };
        if (position is not null && methodName is not ("rome" or "memit")) throw new InputException(null, "--position", "applies to rome and memit only");
        if (weightDecay is double wd && (methodName is not ("rome" or "memit") || wd < 0))
            throw new InputException(null, "--weight-decay", methodName is not ("rome" or "memit") ? "applies to rome and memit only" : $"must not be negative, got {wd}");

        object hyper;
        IKnowledgeEditor editor;
        if (methodName == "memit")
        {
            if (epsilon is not null || layer is not null) throw new InputException(null, epsilon is not null ? "--norm-constraint" : "--layer", "does not apply to memit");
            var memit = new MemitHyperParams();
            if (steps is int ms) memit = memit with { Steps = ms };
            if (position is EditPosition mp) memit = memit with { Position = mp };
            if (learningRate is double ml) memit = memit with { LearningRate = ml };
            if (weightDecay is double mw) memit = memit with { WeightDecay = mw };
            if (covarianceWeight is double cw)
                memit = cw > 0 ? memit with { CovarianceWeight = cw } : throw new InputException(null, "--covariance-weight", $"must be positive, got {cw}");
            if (memitLayers is not null)
            {
                var parsed = memitLayers.Split(',', StringSplitOptions.TrimEntries).Select(x => int.TryParse(x, out var v) && v >= 0 && v < model.Config.NLayers ? v
                    : throw new InputException(null, "--layers", $"'{x}' is not a layer between 0 and {model.Config.NLayers - 1}")).Distinct().ToList();
                memit = memit with { Layers = parsed };
            }
            var corpus = CorpusBuilder.Build(world, profile.Data, profile.Training.Seed).Documents;
            (hyper, editor) = (memit, new MemitEditor(memit, new KeyStatistics(corpus), corpus));
        }
        else if (methodName == "rome")
        {
            if (epsilon is not null) throw new InputException(null, "--norm-constraint", "applies to ft-l only");
            var rome = new RomeHyperParams();
            if (layer is int l) rome = rome with { Layer = l };
            if (rome.Layer < 0 || rome.Layer >= model.Config.NLayers) throw new InputException(null, "--layer", $"must be between 0 and {model.Config.NLayers - 1}, got {rome.Layer}");
            if (steps is int rs) rome = rome with { Steps = rs };
            if (position is EditPosition rp) rome = rome with { Position = rp };
            if (learningRate is double rl) rome = rome with { LearningRate = rl };
            if (weightDecay is double rw) rome = rome with { WeightDecay = rw };
            // The key covariance comes from the agent's own training corpus, as ROME's comes from the model's pre-training data.
            var corpus = CorpusBuilder.Build(world, profile.Data, profile.Training.Seed).Documents;
            (hyper, editor) = (rome, new RomeEditor(rome, new KeyStatistics(corpus), corpus));
        }
        else
        {
            if (layer is not null) throw new InputException(null, "--layer", "applies to rome only");
            // The agents' settings, as compare-updates uses them, so both commands give the same per-edit scores.
            var ft = methodName == "ft-l" ? AgentRuntime.FtLForAgents(model.Config) : AgentRuntime.FtForAgents();
            if (steps is int s) ft = ft with { Steps = s };
            if (learningRate is double lr) ft = ft with { LearningRate = lr };
            if (epsilon is double e)
            {
                if (methodName != "ft-l") throw new InputException(null, "--norm-constraint", "applies to ft-l only");
                if (e <= 0) throw new InputException(null, "--norm-constraint", $"must be positive, got {e}");
                ft = ft with { NormConstraint = e };
            }
            (hyper, editor) = (ft, new FineTuningEditor(ft, methodName));
        }

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
        if (methodName == "memit" && !sequential)
        {
            SequentialPoint batch = null!;
            Output.WithProgress($"memit batch of {edits.Count}", 1, report => { batch = EditEvaluation.Batch(model, tokenizer, probes, editor); return 0; });
            var result = new { method = methodName, hyper_params = hyper, batch };
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
                curve = EditEvaluation.Sequential(model, tokenizer, probes, editor, n => report(n, $"{methodName}: {n}/{edits.Count} edits applied"));
                return 0;
            });
            var result = new { method = methodName, hyper_params = hyper, sequential = curve };
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
        double Mean(Func<EditScore, double> pick) => EditMetrics.MeanDefined(scores.Select(pick));
        var summary = new
        {
            method = methodName,
            hyper_params = hyper,
            edits = scores.Count,
            reliability = Mean(x => x.Reliability),
            generalization = Mean(x => x.Generalization),
            locality = Mean(x => x.Locality),
            portability = Mean(x => x.Portability),
            seconds_per_update = Mean(x => x.SecondsPerUpdate),
            bytes_per_update = Mean(x => x.BytesStored),
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
                portability = score.Portability,
            }).ToList(),
        };
        if (json) Output.Json(summary);
        else Output.Status.WriteLine(Output.ToJson(summary));
        return 0;
    }
}
