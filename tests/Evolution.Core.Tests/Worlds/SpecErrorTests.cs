using Evolution.Core.Agents;
using Evolution.Core.Worlds;

namespace Evolution.Core.Tests.Worlds;

/// <summary>Malformed specs and profiles are rejected with the file, the line and the field.</summary>
public class SpecErrorTests
{
    const string Valid = """
        name: t
        seed: 1
        entities:
          country: 3
          city: 6
          person: 8
          company: 3
          university: 2
        epochs: 2
        changes:
          - epoch: 1
            relation: works_for
            count: 2
        """;

    static InputException WorldError(string yaml) => Assert.Throws<InputException>(() => WorldSpec.Parse(yaml, "bad-world.yaml"));

    [Fact]
    public void ValidSpecParses()
    {
        var spec = WorldSpec.Parse(Valid, "ok.yaml");
        Assert.Equal(6, spec.Count("city"));
        Assert.Single(spec.Changes);
    }

    [Theory]
    [InlineData("city: 6", "city: many", "entities.city", 5, "expected an integer")]
    [InlineData("person: 8", "person: -2", "entities.person", 6, "at least")]
    [InlineData("seed: 1", "seed: 1\ncolour: blue", "colour", 3, "unknown field")]
    [InlineData("relation: works_for", "relation: likes", "changes[0].relation", 12, "unknown relation")]
    [InlineData("  - epoch: 1", "  - epoch: 5", "changes[0].epoch", 11, "between 1 and 1")]
    [InlineData("name: t\n", "", "name", 1, "required")]
    public void MalformedWorldSpecNamesFileLineAndField(string from, string to, string field, int line, string problem)
    {
        var error = WorldError(Valid.Replace(from, to));
        Assert.Contains("bad-world.yaml", error.Message);
        Assert.Contains($"'{field}'", error.Message);
        Assert.Contains(problem, error.Message);
        Assert.Equal(line, error.Line);
    }

    [Fact]
    public void NotYamlAtAllIsAClearError()
    {
        var error = WorldError("name: [unclosed");
        Assert.Contains("bad-world.yaml", error.Message);
        Assert.Contains("not valid YAML", error.Message);
    }

    [Fact]
    public void ExplicitChangeWithUnknownEntityNamesIt()
    {
        var spec = WorldSpec.Parse(Valid.Replace("count: 2", "subject: Nobody Atall\n    object: Nowhere"), "bad-world.yaml");
        var error = Assert.Throws<InputException>(() => World.Generate(spec));
        Assert.Contains("Nobody Atall", error.Message);
        Assert.Contains("changes.subject", error.Message);
    }

    [Theory]
    [InlineData("model:\n  layers: four", "model.layers", "expected an integer")]
    [InlineData("model:\n  d_model: 130\n  heads: 4", "model.d_model", "multiple of heads")]
    [InlineData("model:\n  d_mlp: 0", "model.d_mlp", "at least 1")]
    [InlineData("data:\n  coverage: 1.5", "data.coverage", "between 0 and 1")]
    [InlineData("data:\n  contxt_share: 0.2", "data.contxt_share", "unknown field")]
    [InlineData("training:\n  steps: 0", "training.steps", "positive")]
    [InlineData("update:\n  retrieval_scope: world", "update.retrieval_scope", "use subject or all")]
    [InlineData("update:\n  retrieval_query: literal", "update.retrieval_query", "use question or as_asked")]
    public void MalformedProfileNamesFileAndField(string yaml, string field, string problem)
    {
        var error = Assert.Throws<InputException>(() => AgentProfile.Parse("name: x\n" + yaml, "bad-agent.yaml"));
        Assert.Contains("bad-agent.yaml", error.Message);
        Assert.Contains($"'{field}'", error.Message);
        Assert.Contains(problem, error.Message);
    }

    [Fact]
    public void ShippedProfileAndWorldsLoad()
    {
        var profile = AgentProfile.Load(TestWorlds.Profile("default"));
        Assert.Equal(4, profile.Model.Layers);
        foreach (var name in new[] { "default", "tiny" }) Assert.NotNull(World.Generate(WorldSpec.Load(TestWorlds.Spec(name))));
    }
}
