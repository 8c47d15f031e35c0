using System.Text.Json;

namespace Evolution.Core.Text;

/// <summary>
/// Reading the JSON files of a Hugging Face folder so that every mistake is an <see cref="InputException"/>
/// naming the file and the field's path inside it ("model.merges[3]"), never a bare JsonException or
/// KeyNotFoundException from deep inside a loader.
/// </summary>
internal static class HfJson
{
    /// <summary>The file's top-level object (the caller disposes the document).</summary>
    public static JsonDocument ReadObject(string path)
    {
        if (!File.Exists(path)) throw new InputException(path, null, "not found");
        JsonDocument document;
        try { document = JsonDocument.Parse(File.ReadAllText(path), new JsonDocumentOptions { AllowTrailingCommas = true }); }
        catch (JsonException e) { throw new InputException(path, null, $"invalid JSON: {e.Message}", (int?)e.LineNumber + 1); }
        if (document.RootElement.ValueKind != JsonValueKind.Object)
        {
            document.Dispose();
            throw new InputException(path, null, "expected a JSON object at the top level");
        }
        return document;
    }

    /// <summary>The property, or null when it is absent or JSON null.</summary>
    public static JsonElement? Optional(JsonElement parent, string name) =>
        parent.ValueKind == JsonValueKind.Object && parent.TryGetProperty(name, out var value) && value.ValueKind != JsonValueKind.Null
            ? value : null;

    /// <summary>The property, of the given kind; absent or of another kind is an error naming <paramref name="field"/>.</summary>
    public static JsonElement Required(JsonElement parent, string name, JsonValueKind kind, string path, string field, string purpose)
    {
        var value = Optional(parent, name) ?? throw new InputException(path, field, $"missing: {purpose}");
        if (value.ValueKind != kind) throw new InputException(path, field, $"expected {Describe(kind)}, got {Describe(value.ValueKind)}");
        return value;
    }

    /// <summary>A string property that may be absent (null).</summary>
    public static string? OptionalString(JsonElement parent, string name, string path, string field)
    {
        if (Optional(parent, name) is not { } value) return null;
        if (value.ValueKind != JsonValueKind.String) throw new InputException(path, field, $"expected a string, got {Describe(value.ValueKind)}");
        return value.GetString();
    }

    /// <summary>A boolean property; absent means <paramref name="absent"/>.</summary>
    public static bool OptionalBool(JsonElement parent, string name, bool absent, string path, string field)
    {
        if (Optional(parent, name) is not { } value) return absent;
        if (value.ValueKind is not (JsonValueKind.True or JsonValueKind.False)) throw new InputException(path, field, $"expected true or false, got {Describe(value.ValueKind)}");
        return value.GetBoolean();
    }

    /// <summary>A non-negative integer id.</summary>
    public static int Id(JsonElement value, string path, string field)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var id) || id < 0)
            throw new InputException(path, field, $"expected a non-negative integer id, got {value.GetRawText()}");
        return id;
    }

    static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Object => "an object",
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        _ => "null",
    };
}
