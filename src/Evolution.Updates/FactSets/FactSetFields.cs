using System.Text.Json;
using Evolution.Core;

namespace Evolution.Updates.FactSets;

/// <summary>
/// Reads the fields of one record of a fact-set file, so that every refusal names the file, the record (its index and,
/// once known, its case_id) and the field by its dotted path, e.g.
/// <c>counterfact.json: field 'requested_rewrite.prompt': record 3 (case_id 17): has no {} where the subject goes</c>.
/// </summary>
public readonly struct FactSetFields(string file, int index, JsonElement record, string? caseId = null)
{
    public string File => file;
    public int Index => index;
    public string? CaseId => caseId;

    /// <summary>These fields, now known by <paramref name="id"/>.</summary>
    public FactSetFields WithCaseId(string id) => new(file, index, record, id);

    public bool Has(string name) => record.ValueKind == JsonValueKind.Object && record.TryGetProperty(name, out _);

    public InputException Error(string field, string problem) =>
        new(file, field, $"record {index}{(caseId is null ? "" : $" (case_id {caseId})")}: {problem}");

    /// <summary>The element at a dotted path (<c>requested_rewrite.target_new.str</c>); a missing step is refused.</summary>
    public JsonElement Element(string path)
    {
        var at = record;
        var steps = path.Split('.');
        for (int i = 0; i < steps.Length; i++)
        {
            if (at.ValueKind != JsonValueKind.Object)
                throw Error(i == 0 ? path : string.Join('.', steps.Take(i)), $"expected an object, found {Kind(at)}");
            if (!at.TryGetProperty(steps[i], out at)) throw Error(path, "missing");
        }
        return at;
    }

    /// <summary>A non-empty string (surrounding whitespace is kept: it is part of a prompt).</summary>
    public string String(string path) => Text(Element(path), path);

    /// <summary>A non-empty string, or null when the field is absent.</summary>
    public string? OptionalString(string path)
    {
        var at = record;
        foreach (var step in path.Split('.'))
            if (at.ValueKind != JsonValueKind.Object || !at.TryGetProperty(step, out at)) return null;
        return Text(at, path);
    }

    /// <summary>An array of non-empty strings, possibly empty; item i is reported as <c>path[i]</c>.</summary>
    public IReadOnlyList<string> Strings(string path)
    {
        var element = Element(path);
        if (element.ValueKind != JsonValueKind.Array) throw Error(path, $"expected an array of strings, found {Kind(element)}");
        var fields = this;
        return element.EnumerateArray().Select((item, i) => fields.Text(item, $"{path}[{i}]")).ToList();
    }

    /// <summary>A string or a number as written (CounterFact's case_id is a number).</summary>
    public string Identifier(string path)
    {
        var element = Element(path);
        return element.ValueKind switch
        {
            JsonValueKind.Number => element.GetRawText(),
            JsonValueKind.String when element.GetString() is { Length: > 0 } s => s,
            _ => throw Error(path, $"expected a number or a non-empty string, found {Kind(element)}"),
        };
    }

    string Text(JsonElement element, string path)
    {
        if (element.ValueKind != JsonValueKind.String) throw Error(path, $"expected a string, found {Kind(element)}");
        var text = element.GetString()!;
        if (string.IsNullOrWhiteSpace(text)) throw Error(path, "is empty");
        return text;
    }

    static string Kind(JsonElement e) => e.ValueKind.ToString().ToLowerInvariant();
}
