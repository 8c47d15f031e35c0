using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Evolution.Core.Yaml;

/// <summary>
/// Strict reading of a YAML mapping: typed getters whose errors name the file, the line and the
/// field path (e.g. <c>agents/x.yaml:7: field 'model.layers': expected an integer, got 'four'</c>),
/// and <see cref="RejectUnknownKeys"/> so a misspelt key is an error, not a silent default.
/// </summary>
public sealed class YamlMap
{
    readonly YamlMappingNode node;
    readonly HashSet<string> read = new();

    public string File { get; }
    public string Path { get; }
    public int Line => (int)node.Start.Line;

    YamlMap(YamlMappingNode node, string file, string path)
    {
        this.node = node;
        File = file;
        Path = path;
    }

    public static YamlMap Load(string file)
    {
        if (!System.IO.File.Exists(file)) throw new InputException(file, null, "file not found");
        return Parse(System.IO.File.ReadAllText(file), file);
    }

    public static YamlMap Parse(string yaml, string file)
    {
        var stream = new YamlStream();
        try { stream.Load(new StringReader(yaml)); }
        catch (YamlException e) { throw new InputException(file, null, $"not valid YAML: {e.InnerException?.Message ?? e.Message}", (int)e.Start.Line); }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
            throw new InputException(file, null, "expected a YAML mapping (key: value lines) at the top level", 1);
        return new YamlMap(root, file, "");
    }

    public IEnumerable<string> Keys => node.Children.Keys.OfType<YamlScalarNode>().Select(k => k.Value ?? "");

    public bool Has(string key) => Find(key) is not null;

    /// <summary>Whether the key holds a mapping (for fields that take a value or a mapping).</summary>
    public bool HasMap(string key) => Find(key) is YamlMappingNode;

    /// <summary>Whether the key holds a list (for fields that take a value or a list).</summary>
    public bool HasList(string key) => Find(key) is YamlSequenceNode;

    string FieldPath(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    YamlNode? Find(string key)
    {
        read.Add(key);
        return node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;
    }

    InputException Error(string key, YamlNode? at, string problem) =>
        new(File, FieldPath(key), problem, (int)(at ?? node).Start.Line);

    string? Scalar(string key, out YamlNode? at)
    {
        at = Find(key);
        if (at is null) return null;
        if (at is not YamlScalarNode scalar) throw Error(key, at, "expected a single value, got a list or mapping");
        return scalar.Value is null or "~" or "null" ? null : scalar.Value;
    }

    public string String(string key, string? fallback = null) =>
        Scalar(key, out var at) ?? fallback ?? throw Error(key, at, "required but missing");

    public string? OptionalString(string key) => Scalar(key, out _);

    public int Int(string key, int? fallback = null)
    {
        var text = Scalar(key, out var at);
        if (text is null) return fallback ?? throw Error(key, at, "required but missing");
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value : throw Error(key, at, $"expected an integer, got '{text}'");
    }

    public int? OptionalInt(string key) => Has(key) && Scalar(key, out _) is not null ? Int(key) : null;

    public double Double(string key, double? fallback = null)
    {
        var text = Scalar(key, out var at);
        if (text is null) return fallback ?? throw Error(key, at, "required but missing");
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
            ? value : throw Error(key, at, $"expected a number, got '{text}'");
    }

    public double? OptionalDouble(string key) => Has(key) && Scalar(key, out _) is not null ? Double(key) : null;

    public bool Bool(string key, bool fallback)
    {
        var text = Scalar(key, out var at);
        if (text is null) return fallback;
        return text.ToLowerInvariant() switch
        {
            "true" or "yes" => true,
            "false" or "no" => false,
            _ => throw Error(key, at, $"expected true or false, got '{text}'"),
        };
    }

    /// <summary>A nested mapping, or an empty one when the key is absent.</summary>
    public YamlMap Map(string key)
    {
        var at = Find(key);
        if (at is null) return new YamlMap(new YamlMappingNode(), File, FieldPath(key));
        return at is YamlMappingNode mapping ? new YamlMap(mapping, File, FieldPath(key)) : throw Error(key, at, "expected a mapping (key: value lines)");
    }

    /// <summary>A list of mappings, or an empty list when the key is absent.</summary>
    public IReadOnlyList<YamlMap> MapList(string key)
    {
        var at = Find(key);
        if (at is null) return [];
        if (at is not YamlSequenceNode sequence) throw Error(key, at, "expected a list");
        return sequence.Children.Select((item, i) => item is YamlMappingNode m
            ? new YamlMap(m, File, $"{FieldPath(key)}[{i}]")
            : throw Error($"{key}[{i}]", item, "expected a mapping")).ToList();
    }

    public IReadOnlyList<string> StringList(string key)
    {
        var at = Find(key);
        if (at is null) return [];
        if (at is not YamlSequenceNode sequence) throw Error(key, at, "expected a list");
        return sequence.Children.Select((item, i) => item is YamlScalarNode { Value: { } v } ? v : throw Error($"{key}[{i}]", item, "expected a value")).ToList();
    }

    public IReadOnlyList<int> IntList(string key)
    {
        var values = StringList(key);
        var at = Find(key);
        return values.Select((v, i) => int.TryParse(v, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var n)
            ? n : throw Error($"{key}[{i}]", at, $"expected a whole number, got '{v}'")).ToList();
    }

    public IReadOnlyList<double> DoubleList(string key)
    {
        var values = StringList(key);
        var at = Find(key);
        return values.Select((v, i) => double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var x)
            ? x : throw Error($"{key}[{i}]", at, $"expected a number, got '{v}'")).ToList();
    }

    /// <summary>Throws for the first key no getter asked for: a misspelt key is a mistake, not a default.</summary>
    public void RejectUnknownKeys()
    {
        foreach (var (key, value) in node.Children)
        {
            var name = (key as YamlScalarNode)?.Value ?? "";
            if (!read.Contains(name))
                throw new InputException(File, FieldPath(name), $"unknown field (known here: {string.Join(", ", read.Order())})", (int)key.Start.Line);
        }
    }

    /// <summary>Throws an error located at <paramref name="key"/>.</summary>
    public InputException Invalid(string key, string problem) => Error(key, node.Children.TryGetValue(new YamlScalarNode(key), out var v) ? v : null, problem);
}
