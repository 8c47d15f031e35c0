using System.Text.Json;

namespace Evolution.Core.Checkpoints;

/// <summary>
/// A Hugging Face <c>config.json</c>, read field by field with errors that name the file and the field. Absent and null
/// mean the same, as in HF configs (GPT2Config writes "n_inner": null).
/// </summary>
public sealed class HfConfig
{
    public const string FileName = "config.json";

    readonly JsonElement root;

    HfConfig(string path, JsonElement root) => (Path, this.root) = (path, root);

    /// <summary>The file's path, for error messages.</summary>
    public string Path { get; }

    public static bool Exists(string directory) => File.Exists(System.IO.Path.Combine(directory, FileName));

    public static HfConfig Read(string directory, string whatFolderNeeds)
    {
        var path = System.IO.Path.Combine(directory, FileName);
        if (!File.Exists(path)) throw new InputException(path, null, $"not found: {whatFolderNeeds}");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new InputException(path, null, "must be a JSON object");
            return new HfConfig(path, document.RootElement.Clone());
        }
        catch (JsonException e) { throw new InputException(path, null, $"invalid JSON: {e.Message}", (int?)e.LineNumber + 1); }
    }

    /// <summary>The field, or null when absent or null.</summary>
    public JsonElement? Field(string name) => root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public int? OptionalInt(string name) => Field(name) is { } v
        ? v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var n) ? n : throw Bad(name, "an integer", v)
        : null;

    public int Int(string name) => OptionalInt(name) ?? throw new InputException(Path, name, "missing");

    public double? OptionalDouble(string name) => Field(name) is { } v
        ? v.ValueKind == JsonValueKind.Number ? v.GetDouble() : throw Bad(name, "a number", v)
        : null;

    public bool? OptionalBool(string name) => Field(name) is { } v
        ? v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : throw Bad(name, "true or false", v)
        : null;

    public string? OptionalString(string name) => Field(name) is { } v
        ? v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Bad(name, "a string", v)
        : null;

    /// <summary>A nested object's fields, read with the same checks (errors name "outer.inner").</summary>
    public HfConfig? OptionalObject(string name) => Field(name) is { } v
        ? v.ValueKind == JsonValueKind.Object ? new HfConfig(Path, v, name + ".") : throw Bad(name, "an object", v)
        : null;

    HfConfig(string path, JsonElement root, string prefix) : this(path, root) => this.prefix = prefix;
    readonly string prefix = "";

    InputException Bad(string name, string expected, JsonElement found) => new(Path, prefix + name, $"expected {expected}, got {found}");

    /// <summary>An error about one of this config's fields.</summary>
    public InputException Error(string name, string problem) => new(Path, prefix + name, problem);
}
