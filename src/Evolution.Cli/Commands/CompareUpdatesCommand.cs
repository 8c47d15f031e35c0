using System.CommandLine;
using Evolution.Agents;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Scenarios;
using Evolution.Updates;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution compare-updates</c>: the same world changes through every update channel, one table of EasyEdit's metrics.</summary>
public static class CompareUpdatesCommand
{
    public static Command Create()
    {
        var world = new Option<string?>("--world") { Description = "world spec (scenarios/worlds/*.yaml); the agent is trained or loaded from the cache" };
        var agent = new Option<string?>("--agent") { Description = $"agent profile (agents/*.yaml; default: {ShippedFiles.DefaultAgent}, built in)" };
        var model = new Option<string?>("--model") { Description = "instead of --world/--agent: an agent checkpoint folder (with its world.yaml and profile.yaml); with --facts, any model folder (a Hugging Face gpt2, llama, qwen2 or mistral folder, an agent checkpoint)" };
        var facts = new Option<string?>("--facts")
        {
            Description = $"instead of a world's changes: a CounterFact- or zsRE-format JSON file of edit requests (e.g. scenarios/facts/counterfact-sample.json), edited into --model DIR one record at a time (ROME's protocol; --sequential N keeps them) and scored with the papers' success rates and EasyEdit's token accuracies; methods {string.Join(", ", Updates.FactSets.FactSetEvaluation.Methods)} [default: {CompareFacts.DefaultMethods}]; --changes N takes the first N records",
        };
        var corpus = new Option<string?>("--corpus") { Description = "with --facts: a text file, one document per line, from which ROME/MEMIT/AlphaEdit estimate key statistics and take random prefixes (default: the fact set's prompts completed with their true objects)" };
        var changes = new Option<int?>("--changes")
        {
            Description = "how many changes: the world's changes at the epoch after the agent's, topped up with seeded counterfactuals (default: as many as the world has there)",
        };
        var methods = new Option<string?>("--methods")
        {
            Description = $"comma-separated channels: {string.Join(", ", UpdateComparison.Methods)} (none = the untouched agent) [default: {DefaultMethods}; with --sequential: {string.Join(",", UpdateComparison.LifelongMethods)}]",
        };
        var sequential = new Option<int?>("--sequential")
        {
            Description = $"lifelong updating instead of the table: N changes (the world's next epoch, topped up with seeded counterfactuals, each fact changed once) written one update after another and all kept, measured after 1, 10, 50, 100, 200, … and N changes; channels {string.Join(", ", UpdateComparison.LifelongMethods)}",
        };
        var batch = new Option<int>("--batch") { Description = "with --sequential: changes per update for memit, alphaedit, ft-l and rag (rome writes one at a time)", DefaultValueFactory = _ => 1 };
        var routeAbove = new Option<double?>("--route-above") { Description = "adaptive: news about facts the weights hold above this confidence goes to ROME, the rest to memory (default: the profile's update.route_above, 0.99)" };
        var answerAlone = new Option<double?>("--answer-alone-above") { Description = "adaptive: questions the weights answer above this confidence skip retrieval, unless the memory holds news on the fact (default: the profile's update.answer_alone_above, 0.5)" };
        var noCurves = new Option<bool>("--no-curves") { Description = $"skip the sequential curves ({string.Join(", ", UpdateComparison.CurveMethods)})" };
        var circuits = new Option<bool>("--circuits")
        {
            Description = $"also trace each edited fact's knowledge circuit (EAP-IG, trace --methods circuit's defaults) before the update (old object) and after it (new object), for each channel of {string.Join(", ", EditCircuits.Channels)}, edits applied as in its row: edge Jaccard, edges and heads gained and lost, where the logit lens first ranks each object top, mover heads",
        };
        var circuitFacts = new Option<int?>("--circuit-facts") { Description = $"with --circuits: edited facts traced per channel, the first ones (default {EditCircuitOptions.DefaultFacts})" };
        var preserve = new Option<string?>("--preserve") { Description = EditCommand.PreserveDescription };
        var keyPrompts = new Option<string?>("--key-prompts") { Description = EditCommand.KeyPromptsDescription };
        var layers = EditCommand.LayersOption();
        var position = new Option<string?>("--position") { Description = "memit, alphaedit: where keys are read and the value written, subject (the subject's last token) or prompt (the prompt's last token, the default)" };
        var nullSpaceThreshold = EditCommand.NullSpaceThresholdOption();
        var ridge = EditCommand.RidgeOption();
        var covarianceWeight = EditCommand.CovarianceWeightOption();
        var weightDecay = EditCommand.WeightDecayOption(forRome: false);
        var output = new Option<string>("--out") { Description = "folder for compare.json, compare.md, compare.csv, plots/ and the retrieval memories", DefaultValueFactory = _ => Path.Combine("results", "compare") };
        var cache = new Option<string?>("--cache") { Description = "cache folder (default: $EVOLUTION_CACHE or ./.cache/evolution)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var command = new Command("compare-updates", "Apply the same world changes through ROME, MEMIT, AlphaEdit, FT-L, FT, retrieval and two hybrids, and compare them with one set of metrics.")
            { world, agent, model, facts, corpus, changes, methods, sequential, batch, routeAbove, answerAlone, noCurves, circuits, circuitFacts, preserve, keyPrompts, layers, position, nullSpaceThreshold, ridge, covarianceWeight, weightDecay, output, cache, json, device };
        var start = new PromptStartOptions();
        start.AddTo(command);
        command.SetAction(parse => parse.GetValue(facts) is { } factsPath
            ? CompareFacts.Run(new CompareFacts.Arguments(factsPath, parse.GetValue(model), parse.GetValue(corpus), parse.GetValue(changes), parse.GetValue(methods),
                parse.GetValue(sequential), parse.GetValue(batch), parse.GetValue(output)!, parse.GetValue(json), parse.GetValue(device)!, start.LeftOut(parse),
                [.. new (string Name, bool Given)[]
                {
                    ("--world", parse.GetValue(world) is not null), ("--agent", parse.GetValue(agent) is not null), ("--route-above", parse.GetValue(routeAbove) is not null),
                    ("--answer-alone-above", parse.GetValue(answerAlone) is not null), ("--no-curves", parse.GetValue(noCurves)), ("--circuits", parse.GetValue(circuits)),
                    ("--circuit-facts", parse.GetValue(circuitFacts) is not null), ("--preserve", parse.GetValue(preserve) is not null),
                    ("--key-prompts", parse.GetValue(keyPrompts) is not null),
                    ("--layers", parse.GetValue(layers) is not null), ("--position", parse.GetValue(position) is not null),
                    ("--null-space-threshold", parse.GetValue(nullSpaceThreshold) is not null), ("--ridge", parse.GetValue(ridge) is not null),
                    ("--covariance-weight", parse.GetValue(covarianceWeight) is not null), ("--weight-decay", parse.GetValue(weightDecay) is not null),
                }.Where(o => o.Given).Select(o => o.Name)]))
            : parse.GetValue(corpus) is not null ? throw new InputException(null, "--corpus", "applies with --facts only")
            : Run(parse.GetValue(world), parse.GetValue(agent), parse.GetValue(model), parse.GetValue(changes), parse.GetValue(methods),
            parse.GetValue(sequential), parse.GetValue(batch), parse.GetValue(routeAbove), parse.GetValue(answerAlone), !parse.GetValue(noCurves),
            ParseCircuits(parse.GetValue(circuits), parse.GetValue(circuitFacts)),
            new EditorOverrides
            {
                Preserve = EditCommand.Preserve(parse.GetValue(preserve)), Keys = EditCommand.KeyPromptsOf(parse.GetValue(keyPrompts)), Layers = EditCommand.Layers(parse.GetValue(layers)), Position = EditCommand.Position(parse.GetValue(position)),
                NullSpaceThreshold = parse.GetValue(nullSpaceThreshold), Ridge = parse.GetValue(ridge), CovarianceWeight = parse.GetValue(covarianceWeight),
                WeightDecay = parse.GetValue(weightDecay),
            },
            parse.GetValue(output)!, parse.GetValue(cache) ?? AgentTraining.DefaultCacheRoot(), parse.GetValue(json), parse.GetValue(device)!, start.LeftOut(parse)));
        return command;
    }

    const string DefaultMethods = "rome,memit,ft-l,ft,rag,hybrid";

    /// <summary>Each of MEMIT's and AlphaEdit's flags given (<paramref name="flags"/>) must name a method of the run that reads it and be in range.</summary>
    static void CheckEditorFlags(EditorOverrides flags, IReadOnlyList<string> methods)
    {
        foreach (var (flag, given, readers) in new (string, bool, string[])[]
        {
            ("--preserve", flags.Preserve is not null, ["alphaedit"]), ("--key-prompts", flags.Keys is not null, ["alphaedit"]), ("--null-space-threshold", flags.NullSpaceThreshold is not null, ["alphaedit"]),
            ("--ridge", flags.Ridge is not null, ["alphaedit"]), ("--layers", flags.Layers is not null, ["memit", "alphaedit"]), ("--position", flags.Position is not null, ["memit", "alphaedit"]),
            ("--covariance-weight", flags.CovarianceWeight is not null, ["memit", "alphaedit"]), ("--weight-decay", flags.WeightDecay is not null, ["memit", "alphaedit"]),
        })
            if (given && !readers.Any(methods.Contains))
                throw new InputException(null, flag, $"applies to {string.Join(" and ", readers)}, which --methods does not name");
        if (flags.NullSpaceThreshold is <= 0 or >= 1) throw new InputException(null, "--null-space-threshold", $"must be between 0 and 1, got {flags.NullSpaceThreshold}");
        // Before the agent is trained or loaded, as the editors would refuse them only once they are built.
        KnowledgeEditors.CheckValues(flags);
    }

    /// <summary>The flags as each of the run's methods reads them (MEMIT: layers and position); null when none was given.</summary>
    static Dictionary<string, EditorOverrides>? EditorOverridesOf(EditorOverrides flags, IReadOnlyList<string> methods) =>
        flags == new EditorOverrides() ? null : new Dictionary<string, EditorOverrides>
        {
            ["memit"] = new() { Layers = flags.Layers, Position = flags.Position, CovarianceWeight = flags.CovarianceWeight, WeightDecay = flags.WeightDecay },
            ["alphaedit"] = flags,
        }.Where(o => methods.Contains(o.Key)).ToDictionary();

    static EditCircuitOptions? ParseCircuits(bool circuits, int? facts)
    {
        if (facts is not null && !circuits) throw new InputException(null, "--circuit-facts", "applies with --circuits only");
        if (facts < 1) throw new InputException(null, "--circuit-facts", $"must be at least 1, got {facts}");
        return circuits ? new EditCircuitOptions(facts ?? EditCircuitOptions.DefaultFacts) : null;
    }

    static int Run(string? worldPath, string? profilePath, string? modelDir, int? changeCount, string? methodList, int? sequential, int batch,
        double? routeAbove, double? answerAloneAbove, bool curves, EditCircuitOptions? circuits, EditorOverrides editorFlags, string outDir, string cacheRoot, bool json, string deviceName, bool withoutStart)
    {
        var available = sequential is null ? UpdateComparison.Methods : UpdateComparison.LifelongMethods;
        var methods = (methodList ?? (sequential is null ? DefaultMethods : string.Join(",", UpdateComparison.LifelongMethods)))
            .Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct().ToList();
        if (methods.Count == 0) throw new InputException(null, "--methods", "names no method");
        foreach (var m in methods)
            if (!available.Contains(m))
                throw new InputException(null, "--methods", $"{(UpdateComparison.Methods.Contains(m) ? $"'{m}' has no lifelong run" : $"unknown method '{m}'")} (available{(sequential is null ? "" : " with --sequential")}: {string.Join(", ", available)})");
        if (changeCount < 1) throw new InputException(null, "--changes", $"must be at least 1, got {changeCount}");
        if (sequential is not null && changeCount is not null) throw new InputException(null, "--changes", "--sequential N gives the number of changes: leave out --changes");
        if (sequential < 1) throw new InputException(null, "--sequential", $"must be at least 1, got {sequential}");
        if (batch < 1) throw new InputException(null, "--batch", $"must be at least 1, got {batch}");
        CheckEditorFlags(editorFlags, methods);
        if (batch != 1 && sequential is null) throw new InputException(null, "--batch", "applies to --sequential runs only");
        if (routeAbove is < 0 or > 1) throw new InputException(null, "--route-above", $"must be between 0 and 1, got {routeAbove}");
        if (answerAloneAbove is < 0 or > 1) throw new InputException(null, "--answer-alone-above", $"must be between 0 and 1, got {answerAloneAbove}");
        if (circuits is not null && sequential is not null) throw new InputException(null, "--circuits", "applies to the table, not to --sequential runs");
        if (circuits is not null && !methods.Any(EditCircuits.Channels.Contains))
            throw new InputException(null, "--circuits", $"needs a channel that writes weights among --methods ({string.Join(", ", EditCircuits.Channels)})");
        changeCount ??= sequential;
        if (modelDir is not null)
        {
            if (worldPath is not null || profilePath is not null) throw new InputException(null, "--model", "takes the world and profile from the checkpoint: leave out --world and --agent");
            if (!File.Exists(Path.Combine(modelDir, AgentTraining.WorldFile)) || !File.Exists(Path.Combine(modelDir, AgentTraining.ProfileFile)))
                throw new InputException(modelDir, "--model", $"not an agent checkpoint (needs {AgentTraining.WorldFile} and {AgentTraining.ProfileFile}; to edit any model folder on a fact set, give --facts FILE)");
        }
        else if (worldPath is null) throw new InputException(null, "--world", "required (or --model DIR)");
        else if (!File.Exists(worldPath)) throw new InputException(worldPath, "--world", "no such file");
        if (profilePath is not null && !File.Exists(profilePath)) throw new InputException(profilePath, "--agent", "no such file");
        var device = Devices.Parse(deviceName);

        // The agent: a checkpoint folder as it is, or trained (or loaded from the cache) from a world and a profile.
        AgentRuntime.Parts parts = null!;
        string checkpoint;
        if (modelDir is not null)
        {
            var (loaded, tokenizer) = Checkpoint.Load(modelDir, device);
            worldPath = Path.Combine(modelDir, AgentTraining.WorldFile);
            parts = new AgentRuntime.Parts(loaded, tokenizer, World.Generate(WorldSpec.Load(worldPath)), AgentProfile.Load(Path.Combine(modelDir, AgentTraining.ProfileFile)));
            checkpoint = Path.GetFullPath(modelDir);
        }
        else
        {
            var spec = worldPath!;
            TrainedAgent trained = null!;
            Output.WithProgress("agent", 1.0, report =>
            {
                trained = AgentTraining.TrainOrLoad(spec, profilePath, cacheRoot, device,
                    new Progress(p => report((double)p.Step / p.MaxSteps, $"training step {p.Step}/{p.MaxSteps}")));
                return 0;
            });
            parts = new AgentRuntime.Parts(trained.Model, trained.Tokenizer, trained.World, trained.Profile);
            checkpoint = trained.Checkpoint;
        }
        parts = parts with { Tokenizer = StartToken.Apply(parts.Tokenizer, withoutStart) };
        var update = parts.Profile.Update;
        parts = parts with { Profile = parts.Profile with { Update = update with
        {
            RouteAbove = routeAbove ?? update.RouteAbove, AnswerAloneAbove = answerAloneAbove ?? update.AnswerAloneAbove,
        } } };
        using var model = parts.Model;
        int nextEpoch = parts.Profile.Data.Epoch + 1;
        int count = changeCount ?? parts.World.Changes.Count(c => c.Epoch == nextEpoch);
        if (count < 1) throw new InputException(worldPath, "--changes", $"the world has no changes at epoch {nextEpoch}, the one after the agent's: give --changes N (seeded counterfactuals)");
        var edits = WorldChanges.Select(parts.World, parts.Profile.Data.Epoch, count);

        var comparison = new UpdateComparison(parts, edits, new ComparisonOptions(Path.Combine(outDir, "memory"), curves, Circuits: circuits,
            Editors: EditorOverridesOf(editorFlags, methods)));
        var result = sequential is null
            ? Output.WithProgress("compare-updates", comparison.Stages(methods), report => comparison.Run(methods, report))
            : Output.WithProgress("compare-updates --sequential", methods.Count, report => comparison.RunLifelong(methods, batch, report));
        var document = new
        {
            world = Path.GetFullPath(worldPath!),
            agent = checkpoint,
            changes = result.Changes,
            batch = sequential is null ? (int?)null : batch,
            hybrid_split = sequential is null ? result.HybridSplit : null,
            route_above = methods.Contains("adaptive") ? parts.Profile.Update.RouteAbove : (double?)null,
            answer_alone_above = methods.Contains("adaptive") ? parts.Profile.Update.AnswerAloneAbove : (double?)null,
            methods = result.Methods,
            curves = sequential is null ? result.Curves : null,
            sequential = sequential is null ? null : result.Curves,
            circuits = result.Circuits,
            null_space_use = result.NullSpace,
            editor_overrides = EditorOverridesOf(editorFlags, methods),
        };
        var text = Output.ToJson(document);
        Directory.CreateDirectory(outDir);
        AtomicFile.WriteAllText(Path.Combine(outDir, "compare.json"), text);
        ComparisonReport.Write(result, outDir);

        if (json) Console.Out.WriteLine(text);
        else
        {
            var table = new Table().AddColumns("method", "reliability", "generalization", "locality", "portability", "ES / PS / NS", "fluency", "s/update", "s/query", "bytes/update", "recall@k", "acc|retrieved", "mem. ratio");
            foreach (var (method, s) in result.Methods)
                table.AddRow(method, F(s.Reliability), F(s.Generalization), F(s.Locality), F(s.Portability), Success(s.Success), F(s.Fluency), F(s.SecondsPerUpdate), F(s.SecondsPerQuery),
                    s.BytesPerUpdate.ToString("F0"), F(s.RecallAtK), F(s.AccuracyWhenRetrieved), F(s.MemorizationRatio));
            if (result.Methods.Count > 0) Output.Status.Write(table);
            if (result.Circuits is { } rewiring)
            {
                var rows = new Table().Title($"circuits of {rewiring.Facts} edited facts, before (old object) → after (new object)")
                    .AddColumns("channel", "traced", "edge Jaccard", "same target", "edges +/−", "movers", "new object top at", "old object top at");
                foreach (var (channel, c) in rewiring.Channels.Prepend(KeyValuePair.Create("untouched", rewiring.Untouched)))
                    rows.AddRow(channel, $"{c.Traced}/{c.Facts}", F(c.EdgeJaccard), F(c.SameTargetJaccard), $"{F(c.EdgesGained)} / {F(c.EdgesLost)}",
                        $"{F(c.MoversBefore)} → {F(c.MoversAfter)}", $"{F(c.NewObject.Before.MeanLayer)} → {F(c.NewObject.After.MeanLayer)}",
                        $"{F(c.OldObject.Before.MeanLayer)} → {F(c.OldObject.After.MeanLayer)}");
                Output.Status.Write(rows);
            }
            foreach (var (method, curve) in result.Curves.Where(_ => sequential is not null))
            {
                var points = new Table().Title(method).AddColumns("changes", "reliability", "generalization", "locality", "portability", "ES / PS / NS", "fluency");
                foreach (var p in curve) points.AddRow(p.Updates.ToString(), F(p.Reliability), F(p.Generalization), F(p.Locality), F(p.Portability), Success(p.Success), F(p.Fluency));
                Output.Status.Write(points);
            }
            Output.Status.MarkupLine($"written to {Markup.Escape(Path.GetFullPath(outDir))} (compare.json, compare.md, compare.csv, plots/)");
        }
        return 0;
    }

    /// <summary>The papers' efficacy, paraphrase and neighbourhood success in one cell.</summary>
    static string Success(SuccessRates s) => $"{F(s.Efficacy)} / {F(s.ParaphraseSuccess)} / {F(s.NeighborhoodSuccess)}";

    static string F(double? v) => v is double x ? (double.IsNaN(x) ? "n/a" : x.ToString(Math.Abs(x) < 0.01 && x != 0 ? "G3" : "F3")) : "";

    /// <summary>Reports on the calling thread, so the bar does not race it.</summary>
    sealed class Progress(Action<Core.Training.TrainingProgress> report) : IProgress<Core.Training.TrainingProgress>
    {
        public void Report(Core.Training.TrainingProgress value) => report(value);
    }
}
