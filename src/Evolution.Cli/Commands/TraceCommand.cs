using System.CommandLine;
using Evolution.Core;
using Evolution.Core.Agents;
using Evolution.Core.Checkpoints;
using Evolution.Core.Evaluation;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Mechanisms;
using Evolution.Mechanisms.Circuits;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary><c>evolution trace</c>: where a model's knowledge of a fact lives (logit lens, direct logit attribution, causal tracing, knowledge circuits).</summary>
public static class TraceCommand
{
    static readonly string[] KnownMethods = ["lens", "dla", "causal", "circuit", "probe", "conflict", "convergence", "conformity"];

    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "agent checkpoint folder, or a Hugging Face folder (model_type gpt2, llama, qwen2, mistral)", Required = true };
        var subject = new Option<string?>("--subject") { Description = "subject entity name" };
        var relation = new Option<string?>("--relation") { Description = "relation name (agent checkpoints: the prompt comes from its first training statement template)" };
        var prompt = new Option<string?>("--prompt") { Description = "explicit prompt containing the subject (required for models without a world)" };
        var target = new Option<string?>("--target") { Description = "answer to trace (default: the world's object)" };
        var methods = new Option<string>("--methods") { Description = "comma-separated: lens, dla, causal, circuit (per fact); probe, conflict, convergence, conformity (world-level)", DefaultValueFactory = _ => "lens,dla,causal" };
        var facts = new Option<int>("--facts") { Description = "trace a sample of N facts of the agent's world and average (causal by ROME token category)" };
        var samples = new Option<int>("--samples") { Description = "noise samples per causal trace", DefaultValueFactory = _ => 10 };
        var window = new Option<int>("--window") { Description = "layers restored together for MLP/attention traces", DefaultValueFactory = _ => 1 };
        var corruption = new Option<string?>("--corruption") { Description = "gaussian (ROME) or str (symmetric token replacement); default gaussian for causal, str for circuit" };
        var edgeFraction = new Option<double>("--edge-fraction") { Description = "circuit: fraction of edges kept (top |EAP-IG score|)", DefaultValueFactory = _ => Mechanisms.Circuits.Circuit.DefaultEdgeFraction };
        var igSteps = new Option<int>("--ig-steps") { Description = "circuit: integrated-gradient steps of EAP-IG", DefaultValueFactory = _ => 5 };
        var exact = new Option<bool>("--exact") { Description = "circuit: also ablate every edge alone (slow; small models) and correlate with EAP-IG" };
        var selection = new Option<string>("--selection") { Description = "circuit: topn (largest |score|) or greedy (from the logits backwards, every edge connected)", DefaultValueFactory = _ => "greedy" };
        var ablation = new Option<string>("--ablation") { Description = "circuit: what ablated edges carry, corrupted or mean", DefaultValueFactory = _ => "corrupted" };
        var peers = new Option<int>("--peers") { Description = "conformity: confederates stating the peers' answer", DefaultValueFactory = _ => 3 };
        var epoch = new Option<int>("--epoch") { Description = "world epoch whose facts are traced" };
        var output = new Option<string?>("--out") { Description = "write trace.json here" };
        var compare = new Option<string?>("--compare") { Description = "second model for --methods convergence, or circuit (circuit diff)" };
        var json = new Option<bool>("--json") { Description = "print one JSON object on stdout" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or auto", DefaultValueFactory = _ => "auto" };
        var command = new Command("trace", "Trace where a model stores a fact and how it reaches the answer.")
            { model, subject, relation, prompt, target, methods, facts, samples, window, corruption, edgeFraction, igSteps, exact, ablation, selection, peers, epoch, output, compare, json, device };
        var start = new PromptStartOptions();
        start.AddTo(command);
        command.SetAction(parse => Run(new Request(parse.GetRequiredValue(model), parse.GetValue(subject), parse.GetValue(relation), parse.GetValue(prompt),
            parse.GetValue(target), parse.GetValue(methods)!, parse.GetValue(facts), parse.GetValue(samples), parse.GetValue(window),
            parse.GetValue(corruption), parse.GetValue(edgeFraction), parse.GetValue(igSteps), parse.GetValue(exact), parse.GetValue(ablation)!, parse.GetValue(selection)!,
            parse.GetValue(peers), parse.GetValue(epoch), parse.GetValue(output), parse.GetValue(compare), parse.GetValue(json), parse.GetValue(device)!, start.LeftOut(parse))));
        return command;
    }

    sealed record Request(string Model, string? Subject, string? Relation, string? Prompt, string? Target, string Methods, int Facts, int Samples,
        int Window, string? CorruptionOption, double EdgeFraction, int IgSteps, bool Exact, string Ablation, string Selection, int Peers, int Epoch, string? Out, string? Compare, bool Json, string Device, bool WithoutStart)
    {
        /// <summary>Causal tracing's corruption (ROME's Gaussian noise unless asked otherwise).</summary>
        public string Corruption => CorruptionOption ?? "gaussian";
    }

    static int Run(Request r)
    {
        var methods = r.Methods.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet();
        foreach (var m in methods)
            if (!KnownMethods.Contains(m)) throw new InputException(null, "--methods", $"unknown method '{m}' (known: {string.Join(", ", KnownMethods)})");
        if (r.Corruption is not ("gaussian" or "str")) throw new InputException(null, "--corruption", $"must be gaussian or str, got '{r.Corruption}'");
        if (methods.Overlaps(["circuit", "conformity"]))
        {
            if (r.EdgeFraction is <= 0 or > 1) throw new InputException(null, "--edge-fraction", $"must be in (0, 1], got {r.EdgeFraction}");
            if (r.IgSteps < 1) throw new InputException(null, "--ig-steps", "must be at least 1");
            if (r.Peers < 1) throw new InputException(null, "--peers", "must be at least 1");
            if (r.Selection is not ("topn" or "greedy")) throw new InputException(null, "--selection", $"must be topn or greedy, got '{r.Selection}'");
            if (r.Ablation is not ("corrupted" or "mean")) throw new InputException(null, "--ablation", $"must be corrupted or mean, got '{r.Ablation}'");
        }
        if (r.Samples < 1) throw new InputException(null, "--samples", "must be at least 1");
        var (model, loaded) = Checkpoint.Load(r.Model, Devices.Parse(r.Device));
        var tokenizer = StartToken.Apply(loaded, r.WithoutStart);
        var worldFile = Path.Combine(r.Model, AgentTraining.WorldFile);
        var world = File.Exists(worldFile) ? World.Generate(WorldSpec.Load(worldFile)) : null;
        var options = new CausalTraceOptions(r.Samples, Window: r.Window);

        // One section per method family: "trace" (lens, dla, causal), "probes", "conflicts", "convergence".
        var sections = new Dictionary<string, object>();
        if (r.Out is not null) Directory.CreateDirectory(r.Out);
        if (methods.Overlaps(["lens", "dla", "causal"]))
        {
            if (r.Facts > 0)
            {
                if (world is null) throw new InputException(r.Model, "--facts", "needs an agent checkpoint (with its world); this model has none");
                sections["trace"] = TraceMany(model, tokenizer, world, r, options, methods);
            }
            else
            {
                var (prompt, corrupted) = SingleFact(tokenizer, world, r);
                sections["trace"] = TraceOne(model, prompt, corrupted, options, methods, r.Corruption, tokenizer, r.Out);
            }
        }
        if (methods.Contains("circuit")) sections["circuit"] = Circuit(model, tokenizer, world, r);
        if (methods.Overlaps(["probe", "conflict", "convergence", "conformity"]) && world is null)
            throw new InputException(r.Model, "--methods", "probe, conflict, convergence and conformity need an agent checkpoint (with its world)");
        if (methods.Contains("probe")) sections["probes"] = Probes(model, tokenizer, world!);
        if (methods.Contains("conflict")) sections["conflicts"] = Conflicts(model, tokenizer, world!, r.Facts > 0 ? r.Facts : 50, r.Epoch);
        if (methods.Contains("conformity"))
        {
            // The agent reads its peers as it was trained to: statement queries marked when its data mix has them.
            var profileFile = Path.Combine(r.Model, AgentTraining.ProfileFile);
            bool mark = File.Exists(profileFile) && AgentProfile.Load(profileFile).Data.ContextStatementShare > 0;
            sections["conformity"] = TraceConformity.Run(model, tokenizer, world!,
                new TraceConformity.Settings(r.Facts > 0 ? r.Facts : 32, r.Peers, r.EdgeFraction, r.IgSteps, r.Epoch, mark), r.Out);
        }
        if (methods.Contains("convergence"))
        {
            if (r.Compare is null) throw new InputException(null, "--compare", "convergence needs a second model folder");
            var (other, otherTokenizer) = Checkpoint.Load(r.Compare, Devices.Parse(r.Device));
            var names = world!.Entities.Select(e => e.Name).ToList();
            if (otherTokenizer is CompactTokenizer compact && names.FirstOrDefault(n => !compact.Covers(n)) is { } missing)
                throw new InputException(r.Compare, "--compare", $"'{missing}' is outside that model's vocabulary: compare agents of the same world");
            sections["convergence"] = new { texts = names.Count, k = 10, layers = RepresentationSimilarity.Compare(model, tokenizer, other, StartToken.Apply(otherTokenizer, r.WithoutStart), names) };
        }
        if (sections.Count == 0) throw new InputException(null, "--methods", "no method given");
        object result = sections;

        if (r.Out is not null) AtomicFile.WriteAllText(Path.Combine(Directory.CreateDirectory(r.Out).FullName, "trace.json"), Output.ToJson(result));
        if (r.Json) Output.Json(result);
        else Output.Status.WriteLine(Output.ToJson(result));
        return 0;
    }

    static object Circuit(Gpt model, ITextTokenizer tokenizer, World? world, Request r)
    {
        var settings = new TraceCircuit.Settings(r.EdgeFraction, r.IgSteps, r.Exact, r.CorruptionOption ?? "str",
            r.Ablation == "mean" ? Mechanisms.Circuits.Ablation.Mean : Mechanisms.Circuits.Ablation.Corrupted, r.Epoch, r.Selection);
        if (world is null) throw new InputException(r.Model, "--methods", "circuit needs an agent checkpoint (with its world: candidates and corrupting subjects come from it)");
        List<Fact> facts;
        List<Mechanisms.Circuits.CircuitExample> examples;
        int skipped = 0;
        if (r.Facts > 0)
        {
            (facts, examples, skipped) = TraceCircuit.Sample(model, tokenizer, world, r.Facts, settings);
            if (examples.Count == 0) throw new InputException(r.Model, "--facts", "the model gets none of the sampled facts right at the first answer token; nothing to trace");
        }
        else
        {
            if (r.Subject is null || r.Relation is null) throw new InputException(null, r.Subject is null ? "--subject" : "--relation", "required for a circuit of one fact (or use --facts N)");
            var entity = world.FindByName(r.Subject) ?? throw new InputException(null, "--subject", $"no entity named '{r.Subject}' in this agent's world");
            var relation = world.Relations.FirstOrDefault(x => x.Name == r.Relation && x.SubjectType == entity.Type)
                ?? throw new InputException(null, "--relation", $"no relation '{r.Relation}' for a {entity.Type}");
            var fact = new Fact(entity.Id, relation.Name, world.ObjectOf(entity.Id, relation.Name, r.Epoch));
            var example = FactCircuits.Example(tokenizer, world, fact, settings.Corruption, r.Epoch)
                ?? throw new InputException(null, "--corruption", $"no other {entity.Type} has as many tokens as '{entity.Name}' for symmetric replacement; use --corruption gaussian");
            (facts, examples) = ([fact], [example]);
        }
        Func<IReadOnlyList<Mechanisms.Circuits.CircuitExample>, (Gpt, IReadOnlyList<Mechanisms.Circuits.CircuitExample>)>? compare = null;
        if (r.Compare is not null)
            compare = _ =>
            {
                var (other, otherTokenizer) = Checkpoint.Load(r.Compare, Devices.Parse(r.Device));
                var otherExamples = facts.Select(f => FactCircuits.Example(otherTokenizer, world, f, settings.Corruption, r.Epoch)
                    ?? throw new InputException(r.Compare, "--compare", $"fact {world[f.Subject].Name} / {f.Relation} cannot be corrupted alike in the second model's tokens")).ToList();
                foreach (var (a, b) in examples.Zip(otherExamples))
                    if (a.Prompt.Tokens.Length != b.Prompt.Tokens.Length)
                        throw new InputException(r.Compare, "--compare", $"\"{a.Prompt.Text}\" tokenises differently in the second model: compare agents of the same world");
                return (other, otherExamples);
            };
        return TraceCircuit.Run(model, examples, skipped, settings, r.Out, compare);
    }

    static (FactPrompt Prompt, int[]? Corrupted) SingleFact(ITextTokenizer tokenizer, World? world, Request r)
    {
        if (r.Subject is null) throw new InputException(null, "--subject", "required (or use --facts N)");
        if (world is null)
        {
            if (r.Prompt is null || r.Target is null) throw new InputException(null, r.Prompt is null ? "--prompt" : "--target", "required for a model without a world");
            return (FactPrompt.Build(tokenizer, r.Prompt, r.Subject, r.Target), null);
        }
        var entity = world.FindByName(r.Subject) ?? throw new InputException(null, "--subject", $"no entity named '{r.Subject}' in this agent's world");
        if (r.Relation is null && r.Prompt is null) throw new InputException(null, "--relation", "required (or give --prompt)");
        Relation? relation = null;
        if (r.Relation is not null)
        {
            relation = world.Relations.FirstOrDefault(x => x.Name == r.Relation)
                ?? throw new InputException(null, "--relation", $"unknown relation '{r.Relation}' (known: {string.Join(", ", world.Relations.Select(x => x.Name))})");
            if (relation.SubjectType != entity.Type) throw new InputException(null, "--relation", $"'{relation.Name}' needs a {relation.SubjectType}, '{entity.Name}' is a {entity.Type}");
        }
        var promptText = r.Prompt ?? world.CanonicalStatement(relation!).Prompt(entity.Name);
        var target = r.Target ?? (relation is null ? throw new InputException(null, "--target", "required with --prompt and no --relation")
            : world[world.ObjectOf(entity.Id, relation.Name, r.Epoch)].Name);
        var prompt = FactPrompt.Build(tokenizer, promptText, entity.Name, target);
        return (prompt, r.Corruption == "str" ? SymmetricReplacement(tokenizer, world, entity, prompt) : null);
    }

    /// <summary>The prompt with the subject replaced by another entity of the same type and token length (Zhang &amp; Nanda 2024).</summary>
    static int[] SymmetricReplacement(ITextTokenizer tokenizer, World world, Entity subject, FactPrompt prompt)
    {
        int length = prompt.SubjectEnd - prompt.SubjectStart;
        foreach (var other in world.OfType(subject.Type).Where(e => e.Id != subject.Id))
        {
            var replaced = FactPrompt.Build(tokenizer, prompt.Text.Replace(subject.Name, other.Name), other.Name, prompt.Target);
            if (replaced.Tokens.Length == prompt.Tokens.Length && replaced.SubjectEnd - replaced.SubjectStart == length && replaced.SubjectStart == prompt.SubjectStart)
                return replaced.Tokens;
        }
        throw new InputException(null, "--corruption", $"no other {subject.Type} has as many tokens as '{subject.Name}' for symmetric replacement");
    }

    static object TraceOne(Gpt model, FactPrompt prompt, int[]? corrupted, CausalTraceOptions options, HashSet<string> methods, string corruption,
        ITextTokenizer tokenizer, string? outDir)
    {
        var tokens = prompt.Tokens.Select(t => tokenizer.Decode([t])).ToArray();
        var lens = methods.Contains("lens") ? LogitLens.Run(model, prompt) : null;
        if (lens is not null && outDir is not null)
            TracePlots.LogitLensCurve(lens.Select(x => x.Hook).ToList(), lens.Select(x => x.Probability).ToList(), $"logit lens: \"{prompt.Text}\" → {prompt.Target}", Path.Combine(outDir, "lens.png"));
        return new
        {
            prompt = prompt.Text,
            target = prompt.Target,
            tokens,
            subject_positions = new[] { prompt.SubjectStart, prompt.SubjectEnd - 1 },
            lens,
            dla = methods.Contains("dla") ? DirectLogitAttribution.Run(model, prompt).Contributions.OrderByDescending(c => Math.Abs(c.Contribution)).Take(12).ToList() : null,
            causal = methods.Contains("causal")
                ? Enum.GetValues<TraceKind>().Select(kind =>
                {
                    var trace = CausalTracing.Trace(model, prompt, kind, options, corrupted);
                    if (outDir is not null) TracePlots.CausalHeatmap(trace, tokens, Path.Combine(outDir, $"causal_{kind.ToString().ToLowerInvariant()}.png"));
                    var (layer, position, effect) = trace.Peak();
                    return new
                    {
                        kind = kind.ToString().ToLowerInvariant(),
                        corruption,
                        p_clean = trace.CleanProbability,
                        p_corrupted = trace.CorruptedProbability,
                        peak = new { layer, position, token = tokens[position], indirect_effect = effect },
                        restored = ToJagged(trace.RestoredProbability),
                    };
                }).ToList()
                : null,
        };
    }

    static object TraceMany(Gpt model, ITextTokenizer tokenizer, World world, Request r, CausalTraceOptions options, HashSet<string> methods)
    {
        var random = new Random(Seeds.Mix("trace", r.Facts));
        var facts = world.FactsAt(r.Epoch).ToArray();
        random.Shuffle(facts);
        var traces = Enum.GetValues<TraceKind>().ToDictionary(k => k, _ => new List<CausalTrace>());
        var lensRanks = new List<IReadOnlyList<LensReading>>();
        int skipped = 0;
        Output.WithProgress("tracing", r.Facts, report =>
        {
            foreach (var fact in facts)
            {
                if (lensRanks.Count >= r.Facts) break;
                var relation = RelationCatalogue.Get(fact.Relation);
                var subject = world[fact.Subject];
                var template = world.CanonicalStatement(relation);
                var prompt = FactPrompt.Build(tokenizer, template.Prompt(subject.Name), subject.Name, world[fact.Object].Name);
                var lens = LogitLens.Run(model, prompt);
                if (lens[^1].Rank != 1) { skipped++; continue; } // as ROME: trace only facts the model knows
                var corrupted = r.Corruption == "str" ? TrySymmetric(tokenizer, world, subject, prompt) : null;
                if (r.Corruption == "str" && corrupted is null) { skipped++; continue; } // no same-length subject to swap in
                lensRanks.Add(lens);
                if (methods.Contains("causal"))
                    foreach (var kind in traces.Keys)
                        traces[kind].Add(CausalTracing.Trace(model, prompt, kind, options with { Seed = lensRanks.Count }, corrupted));
                report(lensRanks.Count, $"tracing {lensRanks.Count}/{r.Facts}");
            }
            return 0;
        });
        if (lensRanks.Count == 0) throw new InputException(r.Model, "--facts", "the model gets none of the sampled facts right at the first answer token; nothing to trace");

        return new
        {
            facts = lensRanks.Count,
            skipped = skipped,
            corruption = r.Corruption,
            lens_mean_probability = Enumerable.Range(0, lensRanks[0].Count).Select(i => new { hook = lensRanks[0][i].Hook, p = lensRanks.Average(x => x[i].Probability), hit1 = lensRanks.Average(x => x[i].Rank == 1 ? 1.0 : 0.0) }).ToList(),
            causal = methods.Contains("causal")
                ? traces.Select(kv =>
                {
                    var mean = TraceAggregation.MeanIndirectEffect(kv.Value);
                    if (r.Out is not null)
                        TracePlots.CategoryHeatmap(mean, kv.Key, kv.Value.Count, Path.Combine(r.Out, $"causal_{kv.Key.ToString().ToLowerInvariant()}_mean.png"));
                    var peak = (Layer: 0, Category: 0, Effect: double.NegativeInfinity);
                    for (int l = 0; l < mean.GetLength(0); l++)
                        for (int c = 0; c < mean.GetLength(1); c++)
                            if (mean[l, c] > peak.Effect) peak = (l, c, mean[l, c]);
                    return new
                    {
                        kind = kv.Key.ToString().ToLowerInvariant(),
                        p_clean = kv.Value.Average(t => t.CleanProbability),
                        p_corrupted = kv.Value.Average(t => t.CorruptedProbability),
                        categories = TraceAggregation.Categories,
                        mean_indirect_effect = ToJagged(mean),
                        peak = new { layer = peak.Layer, category = TraceAggregation.Categories[peak.Category], indirect_effect = peak.Effect },
                    };
                }).ToList()
                : null,
        };
    }

    /// <summary>N facts put against a context that states another object (training templates, as the agent's context lines are written).</summary>
    static object Conflicts(Gpt model, ITextTokenizer tokenizer, World world, int count, int epoch)
    {
        var random = new Random(Seeds.Mix("conflicts", count));
        var facts = world.FactsAt(epoch).ToArray();
        random.Shuffle(facts);
        var results = facts.Take(count).Select(fact =>
        {
            var relation = RelationCatalogue.Get(fact.Relation);
            var subject = world[fact.Subject].Name;
            var others = world.CandidateEntities(relation.ObjectType).Where(e => e.Id != fact.Object).ToList();
            var contextObject = others[random.Next(others.Count)].Name;
            var statements = world.TrainingTemplates(relation).Where(t => t.Kind == TemplateKind.Statement).ToList();
            var questions = world.TrainingTemplates(relation).Where(t => t.Kind == TemplateKind.Question).ToList();
            var conflict = new ConflictCase(statements[random.Next(statements.Count)].Render(subject, contextObject),
                questions[random.Next(questions.Count)].Prompt(subject), world[fact.Object].Name, contextObject);
            return KnowledgeConflicts.Analyze(model, tokenizer, conflict);
        }).ToList();
        int layers = model.Config.NLayers;
        double[] Mean(Func<ConflictResult, double[]> pick) => Enumerable.Range(0, layers).Select(l => Math.Round(results.Average(x => pick(x)[l]), 4)).ToArray();
        return new
        {
            cases = results.Count,
            memory_wins = results.Count(x => x.MemoryWins),
            context_wins = results.Count(x => !x.MemoryWins),
            memorization_ratio = MemorizationRatio.OfCounts(results.Count(x => x.MemoryWins), results.Count(x => !x.MemoryWins)),
            mean_example_memorization_ratio = results.Average(x => x.MemorizationRatio),
            attention_to_context_by_layer = Mean(x => x.AttentionToContext),
            attention_logit_difference_by_layer = Mean(x => x.AttentionLogitDifference),
            mlp_logit_difference_by_layer = Mean(x => x.MlpLogitDifference),
            examples = results.Take(3),
        };
    }

    /// <summary>City latitude and longitude (blocks: countries) and birth years (blocks: decades).</summary>
    static IReadOnlyList<ProbeResult> Probes(Gpt model, ITextTokenizer tokenizer, World world)
    {
        using var untrained = new Gpt(model.Config, initSeed: 424242);
        var cities = world.OfType("city");
        var people = world.OfType("person");
        var cityCountries = cities.Select(c => world.ObjectOf(c.Id, "located_in", 0)).ToArray();
        var decades = people.Select(p => (int)p.Attributes["birth_year"] / 10).ToArray();
        ProbeDataset City(string attribute, string context) => new($"city.{attribute}", cities.Select(c => c.Name).ToList(),
            cities.Select(c => c.Attributes[attribute]).ToArray(), cityCountries, context);
        ProbeDataset Person(string context) => new("person.birth_year", people.Select(p => p.Name).ToList(),
            people.Select(p => p.Attributes["birth_year"]).ToArray(), decades, context);
        // Each attribute at the entity's own last token (Gurnee & Tegmark) and where the value is predicted.
        var datasets = new[]
        {
            City("latitude", "{s}"), City("latitude", "{s} lies at latitude"),
            City("longitude", "{s}"), City("longitude", "{s} lies at longitude"),
            Person("{s}"), Person("The birth year of {s} is"),
        };
        return datasets.Select(d => LinearProbes.Run(model, untrained, tokenizer, d)).ToList();
    }

    static int[]? TrySymmetric(ITextTokenizer tokenizer, World world, Entity subject, FactPrompt prompt)
    {
        try { return SymmetricReplacement(tokenizer, world, subject, prompt); }
        catch (InputException) { return null; }
    }

    static double[][] ToJagged(double[,] grid) =>
        Enumerable.Range(0, grid.GetLength(0)).Select(i => Enumerable.Range(0, grid.GetLength(1)).Select(j => Math.Round(grid[i, j], 5)).ToArray()).ToArray();
}
