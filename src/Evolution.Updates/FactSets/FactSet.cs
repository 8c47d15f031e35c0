using System.Text.Json;
using Evolution.Core;

namespace Evolution.Updates.FactSets;

/// <summary>The two file formats of real knowledge-editing benchmarks that <see cref="FactSet.Load"/> reads.</summary>
public enum FactSetFormat
{
    /// <summary>CounterFact (Meng et al. 2022, ROME §3.2): <see cref="CounterFact"/>.</summary>
    CounterFact,
    /// <summary>zsRE as MEND and ROME ship it (<c>zsre_mem_eval.json</c>): <see cref="ZsRe"/>.</summary>
    ZsRe,
}

/// <summary>
/// A file of edit requests in the CounterFact or zsRE format, read into <see cref="FactRecord"/>s. The format is told from
/// the records (CounterFact's have <c>requested_rewrite</c>, zsRE's <c>src</c> and <c>alt</c>); a malformed record is an
/// <see cref="InputException"/> naming the file, the record (index and case_id) and the field.
/// </summary>
public sealed record FactSet(string Path, FactSetFormat Format, IReadOnlyList<FactRecord> Records)
{
    public static FactSet Load(string path)
    {
        if (!File.Exists(path)) throw new InputException(path, "--facts", "no such file");
        JsonDocument document;
        try { document = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InputException(path, null, $"not valid JSON: {e.Message}", line: (int?)e.LineNumber + 1); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Array) throw new InputException(path, null, "expected a JSON array of records (CounterFact or zsRE)");
            if (root.GetArrayLength() == 0) throw new InputException(path, null, "holds no record");
            var first = new FactSetFields(path, 0, root[0]);
            var format = first.Has("requested_rewrite") ? FactSetFormat.CounterFact
                : first.Has("src") || first.Has("alt") ? FactSetFormat.ZsRe
                : throw first.Error("requested_rewrite", "neither a CounterFact record (requested_rewrite, paraphrase_prompts, neighborhood_prompts) nor a zsRE one (subject, src, rephrase, alt, answers, loc, loc_ans)");
            var records = root.EnumerateArray().Select((element, index) =>
            {
                var fields = new FactSetFields(path, index, element);
                return format == FactSetFormat.CounterFact ? CounterFact.Read(fields) : ZsRe.Read(fields);
            }).ToList();
            var duplicate = records.GroupBy(r => r.Id).FirstOrDefault(g => g.Count() > 1);
            if (duplicate is not null) throw new InputException(path, "case_id", $"case_id {duplicate.Key} is used by more than one record");
            return new FactSet(path, format, records);
        }
    }

    /// <summary>The first <paramref name="count"/> records (all when null).</summary>
    public FactSet Take(int? count) => count is int n ? this with { Records = Records.Take(n).ToList() } : this;

    /// <summary>
    /// The texts editors read when no corpus is given: every prompt of the set completed with its true object (the facts
    /// as the model is presumed to know them). ROME and MEMIT estimate the key covariance C on Wikipedia and take random
    /// prefixes from the model's own text; these sentences stand in for both when no sample of the model's training text
    /// is at hand (<c>compare-updates --corpus</c>).
    /// </summary>
    public IReadOnlyList<string> Sentences() => Records.SelectMany(r =>
            r.Paraphrases.Prepend(r.Prompt).Select(p => $"{p} {r.TargetTrue}.").Concat(r.Neighbours.Select(n => $"{n.Prompt} {n.Truth}.")))
        .Distinct().ToList();
}
