using Evolution.Core.Worlds;

namespace Evolution.Core.Tests.Worlds;

public class TemplateCatalogueTests
{
    /// <summary>
    /// Any query template may be held out, so no other sentence form about the same subject type
    /// may contain its prompt: otherwise the "unseen" paraphrase is partly seen in training.
    /// </summary>
    [Fact]
    public void NoSentenceFormContainsAnotherTemplatesQueryPrompt()
    {
        var forms = new List<(string Owner, string SubjectType, string Text)>();
        foreach (var r in RelationCatalogue.All)
            forms.AddRange(r.Templates.Select(t => (r.Name, r.SubjectType, t.Text)));
        foreach (var t in RelationCatalogue.TwoHop)
            forms.AddRange(t.Templates.Select(x => (t.Name, RelationCatalogue.Get(t.First).SubjectType, x.Text)));
        var attributeTypes = new Dictionary<string, string> { ["birth_year"] = "person", ["founding_year"] = "company", ["latitude"] = "city", ["longitude"] = "city" };
        foreach (var (attribute, templates) in RelationCatalogue.AttributeTemplates)
            forms.AddRange(templates.Select(x => (attribute, attributeTypes[attribute], x.Replace("{v}", "{o}"))));

        var collisions = new List<string>();
        foreach (var relation in RelationCatalogue.All)
            foreach (var query in relation.Templates.Where(t => t.IsQuery))
            {
                var prompt = query.Text[..query.Text.IndexOf("{o}", StringComparison.Ordinal)].TrimEnd();
                foreach (var form in forms.Where(f => f.SubjectType == relation.SubjectType && f.Text != query.Text))
                    if (form.Text.Replace("{o}", "\u0001").Contains(prompt + " ", StringComparison.Ordinal))
                        collisions.Add($"'{form.Text}' ({form.Owner}) contains the prompt of '{query.Text}' ({relation.Name})");
            }
        Assert.True(collisions.Count == 0, string.Join("\n", collisions));
    }
}
