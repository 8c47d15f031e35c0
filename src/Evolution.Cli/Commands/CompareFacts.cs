using Evolution.Core;
using Evolution.Core.Checkpoints;
using Evolution.Core.Text;
using Evolution.Updates;
using Evolution.Updates.FactSets;
using Spectre.Console;

namespace Evolution.Cli.Commands;

/// <summary>
/// <c>compare-updates --facts FILE --model DIR</c>: a real fact set (CounterFact or zsRE format, <see cref="FactSet"/>) edited
/// into any model folder <see cref="Checkpoint.Load"/> reads, with ROME's protocol (<see cref="FactSetEvaluation"/>), and both
/// metric families reported side by side. No world is involved, so the options about one are refused.
/// </summary>
public static class CompareFacts
{
    public const string DefaultMethods = "none,rome,memit,alphaedit,ft-l";

    /// <summary>What <c>compare-updates</c> was given; the options that need a world are named when refused.</summary>
    public sealed record Arguments(string Facts, string? Model, string? Corpus, int? Records, string? Methods, int? Sequential, int Batch,
        string Out, bool Json, string Device, bool WithoutStart, IReadOnlyList<string> WorldOptions);

    public static int Run(Arguments a)
    {
        if (a.WorldOptions.Count > 0)
            throw new InputException(null, a.WorldOptions[0], $"does not apply with --facts (the model is edited on the fact set's records, each editor with its depth-scaled defaults, nothing saved): leave out {string.Join(", ", a.WorldOptions)}");
        if (a.Model is null) throw new InputException(null, "--model", "required with --facts: a model folder (a Hugging Face gpt2, llama, qwen2 or mistral folder, or an agent checkpoint)");
        var methods = (a.Methods ?? DefaultMethods).Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Distinct().ToList();
        if (methods.Count == 0) throw new InputException(null, "--methods", "names no method");
        foreach (var m in methods)
            if (!FactSetEvaluation.Methods.Contains(m))
                throw new InputException(null, "--methods", $"'{m}' {(Agents.UpdateComparison.Methods.Contains(m) ? "needs an agent's world and memory" : "is unknown")} (available with --facts: {string.Join(", ", FactSetEvaluation.Methods)})");
        if (a.Records < 1) throw new InputException(null, "--changes", $"must be at least 1, got {a.Records}");
        if (a.Sequential is not null && a.Records is not null) throw new InputException(null, "--changes", "--sequential N gives the number of records: leave out --changes");
        if (a.Sequential < 1) throw new InputException(null, "--sequential", $"must be at least 1, got {a.Sequential}");
        if (a.Batch < 1) throw new InputException(null, "--batch", $"must be at least 1, got {a.Batch}");
        if (a.Batch != 1 && a.Sequential is null) throw new InputException(null, "--batch", "applies to --sequential runs only");
        if (a.Corpus is not null && !File.Exists(a.Corpus)) throw new InputException(a.Corpus, "--corpus", "no such file");
        var all = FactSet.Load(a.Facts);
        int? count = a.Sequential ?? a.Records;
        if (count > all.Records.Count) throw new InputException(a.Facts, a.Sequential is null ? "--changes" : "--sequential", $"the file holds {all.Records.Count} records, asked for {count}");
        var facts = all.Take(count);

        var (model, loaded) = Checkpoint.Load(a.Model, Devices.Parse(a.Device));
        var tokenizer = StartToken.Apply(loaded, a.WithoutStart);
        using var _ = model;
        var texts = a.Corpus is null ? facts.Sentences()
            : File.ReadLines(a.Corpus).Where(l => !string.IsNullOrWhiteSpace(l)).ToList();
        if (texts.Count == 0) throw new InputException(a.Corpus, "--corpus", "holds no text");
        var corpus = new EditorCorpus(() => texts);
        var evaluation = Output.WithProgress("reading the unedited model", 1, _ => new FactSetEvaluation(model, tokenizer, facts.Records, corpus));
        var protocol = a.Sequential is null ? "single edits, each on the unedited model"
            : $"sequential: {facts.Records.Count} records, {a.Batch} per update (rome 1), every update kept";
        var results = methods.Select(method => a.Sequential is null
            ? Output.WithProgress(method, facts.Records.Count, report => evaluation.Run(method, done => report(done, $"{method}: {done}/{facts.Records.Count} records")))
            : Output.WithProgress(method, Math.Max(1, facts.Records.Count / (method == "rome" ? 1 : a.Batch)),
                report => evaluation.RunSequential(method, a.Batch, done => report(done, $"{method}: update {done}")))).ToList();

        var document = new
        {
            facts = Path.GetFullPath(a.Facts),
            format = facts.Format,
            model = Path.GetFullPath(a.Model),
            records = facts.Records.Count,
            protocol,
            batch = a.Sequential is null ? (int?)null : a.Batch,
            corpus = a.Corpus is null ? "the fact set's prompts completed with their true objects" : Path.GetFullPath(a.Corpus),
            scoring = "start-of-sequence token (GPT-2 <|endoftext|>, Llama BOS) + prompt + \" \" + object, teacher-forced; P(object) = exp of the sum of its tokens' log-probs",
            methods = results.ToDictionary(r => r.Method, r => (object)new
            {
                success = r.Scores.Success,
                token_accuracy = r.Scores.Accuracy,
                seconds_per_edit = r.SecondsPerEdit,
                bytes_per_edit = r.BytesPerEdit,
                hyper_params = r.HyperParams,
                cases = r.Cases.Select(c => new { case_id = c.Id, success = c.Scores.Success, token_accuracy = c.Scores.Accuracy }),
                sequential = r.Curve.Count == 0 ? null : r.Curve.Select(p => new { records = p.Records, success = p.Scores.Success, token_accuracy = p.Scores.Accuracy }),
            }),
        };
        var text = Output.ToJson(document);
        Directory.CreateDirectory(a.Out);
        AtomicFile.WriteAllText(Path.Combine(a.Out, "compare.json"), text);
        AtomicFile.WriteAllText(Path.Combine(a.Out, "compare.md"), FactSetReport.Markdown(facts, results, protocol));

        if (a.Json) Console.Out.WriteLine(text);
        else
        {
            var table = new Table().Title(Markup.Escape($"{Path.GetFileName(a.Facts)}: {facts.Records.Count} records, {protocol}"))
                .AddColumns(["method", "ES", "PS", "NS", "ES mag.", "PS mag.", "NS mag.", "reliability", "generalization", "locality", "s/edit"]);
            foreach (var r in results) table.AddRow([r.Method, .. FactSetReport.Cells(r)]);
            Output.Status.Write(table);
            Output.Status.MarkupLine("ES / PS / NS: the papers' efficacy, paraphrase and neighbourhood success (sequence probabilities); " +
                "reliability / generalization / locality: EasyEdit's token accuracies.");
            Output.Status.MarkupLine($"written to {Markup.Escape(Path.GetFullPath(a.Out))} (compare.json, compare.md)");
        }
        return 0;
    }
}
