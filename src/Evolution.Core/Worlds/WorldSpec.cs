using Evolution.Core.Yaml;

namespace Evolution.Core.Worlds;

/// <summary>
/// "At epoch E, change this relation for <c>Count</c> random subjects", or, with
/// <see cref="Subject"/> and <see cref="Object"/> given, one explicit change by entity names.
/// </summary>
public sealed record ChangeSpec(int Epoch, string Relation, int Count, string? Subject, string? Object, int Line);

/// <summary>
/// What a world is made of (scenarios/worlds/*.yaml). Everything else is generated from
/// <see cref="Seed"/>. Read strictly: unknown keys, wrong types and impossible values are errors
/// naming the file, line and field.
/// </summary>
public sealed record WorldSpec
{
    public static readonly IReadOnlyList<string> EntityTypes = ["country", "city", "person", "company", "university"];

    public required string Name { get; init; }
    public required int Seed { get; init; }
    /// <summary>Entity counts in <see cref="EntityTypes"/> order.</summary>
    public required IReadOnlyList<int> EntityCounts { get; init; }
    public int Epochs { get; init; } = 1;
    public IReadOnlyList<ChangeSpec> Changes { get; init; } = [];
    /// <summary>Query templates per relation kept out of training, for paraphrase evaluation.</summary>
    public int HeldOutTemplatesPerRelation { get; init; } = 2;
    /// <summary>Where the spec came from (for error messages); not part of the world's identity.</summary>
    [System.Text.Json.Serialization.JsonIgnore] public string Source { get; init; } = "<inline>";

    public int Count(string type) => EntityCounts[IndexOfType(type)];

    static int IndexOfType(string type)
    {
        for (int i = 0; i < EntityTypes.Count; i++) if (EntityTypes[i] == type) return i;
        throw new KeyNotFoundException($"unknown entity type '{type}'");
    }

    public static WorldSpec Load(string path) => FromYaml(YamlMap.Load(path));

    public static WorldSpec Parse(string yaml, string sourceName) => FromYaml(YamlMap.Parse(yaml, sourceName));

    static WorldSpec FromYaml(YamlMap yaml)
    {
        var entities = yaml.Map("entities");
        var counts = EntityTypes.Select(type =>
        {
            int n = entities.Int(type);
            if (n < 1) throw entities.Invalid(type, $"must be at least 1, got {n}");
            return n;
        }).ToList();
        entities.RejectUnknownKeys();
        if (counts[1] < counts[0]) throw entities.Invalid("city", $"needs at least one city per country ({counts[0]}), got {counts[1]}");
        if (counts[2] < 2) throw entities.Invalid("person", "needs at least 2 people");

        int epochs = yaml.Int("epochs", 1);
        if (epochs < 1) throw yaml.Invalid("epochs", $"must be at least 1, got {epochs}");
        int heldOut = yaml.Int("heldout_templates_per_relation", 2);
        if (heldOut is < 0 or > 4) throw yaml.Invalid("heldout_templates_per_relation", $"must be between 0 and 4, got {heldOut}");

        var changes = yaml.MapList("changes").Select(c =>
        {
            int epoch = c.Int("epoch");
            if (epoch < 1 || epoch >= epochs) throw c.Invalid("epoch", $"must be between 1 and {epochs - 1} (the world has {epochs} epochs), got {epoch}");
            var relation = c.String("relation");
            if (RelationCatalogue.All.All(r => r.Name != relation))
                throw c.Invalid("relation", $"unknown relation '{relation}' (known: {string.Join(", ", RelationCatalogue.All.Select(r => r.Name))})");
            var subject = c.OptionalString("subject");
            var obj = c.OptionalString("object");
            if ((subject is null) != (obj is null)) throw c.Invalid(subject is null ? "subject" : "object", "an explicit change needs both subject and object");
            int count = subject is null ? c.Int("count") : c.Int("count", 1);
            if (count < 1) throw c.Invalid("count", $"must be at least 1, got {count}");
            c.RejectUnknownKeys();
            return new ChangeSpec(epoch, relation, count, subject, obj, c.Line);
        }).ToList();

        var spec = new WorldSpec
        {
            Name = yaml.String("name"),
            Seed = yaml.Int("seed"),
            EntityCounts = counts,
            Epochs = epochs,
            Changes = changes,
            HeldOutTemplatesPerRelation = heldOut,
            Source = yaml.File,
        };
        yaml.RejectUnknownKeys();
        return spec;
    }
}
