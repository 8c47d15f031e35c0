namespace Evolution.Updates.FactSets;

/// <summary>
/// A record of CounterFact (Meng et al. 2022, "Locating and Editing Factual Associations in GPT", §3.2 and Appendix C):
/// <code>
/// { "case_id": 0,
///   "requested_rewrite": { "prompt": "The mother tongue of {} is", "subject": "Danielle Darrieux",
///                          "target_new": { "str": "English" }, "target_true": { "str": "French" }, "relation_id": "P103" },
///   "paraphrase_prompts": [ "…. Danielle Darrieux's mother tongue is" ],
///   "neighborhood_prompts": [ "The mother tongue of Léon Blum is" ],
///   "attribute_prompts": [ … ], "generation_prompts": [ … ] }
/// </code>
/// The rewrite prompt is <c>prompt</c> with <c>{}</c> replaced by the subject (ROME's <c>prompt.format(subject)</c>);
/// neighbourhood prompts are other subjects sharing the relation and the true object, so their truth is <c>target_true</c>.
/// <c>attribute_prompts</c> and <c>generation_prompts</c> (ROME's neighbourhood-of-the-new-object and fluency measures)
/// are not read.
/// </summary>
public static class CounterFact
{
    /// <summary>One record; a missing or empty field, a prompt without <c>{}</c> or a subject it cannot hold is refused.</summary>
    public static FactRecord Read(FactSetFields fields)
    {
        fields = fields.WithCaseId(fields.Identifier("case_id"));
        var template = fields.String("requested_rewrite.prompt");
        var subject = fields.String("requested_rewrite.subject");
        if (!template.Contains("{}", StringComparison.Ordinal))
            throw fields.Error("requested_rewrite.prompt", $"has no {{}} where the subject goes: \"{template}\"");
        var prompt = template.Replace("{}", subject, StringComparison.Ordinal);
        var targetNew = fields.String("requested_rewrite.target_new.str");
        var targetTrue = fields.String("requested_rewrite.target_true.str");
        var relation = fields.OptionalString("requested_rewrite.relation_id");
        var paraphrases = fields.Strings("paraphrase_prompts");
        var neighbours = fields.Strings("neighborhood_prompts").Select(p => new NeighbourPrompt(p, targetTrue)).ToList();
        return new FactRecord(fields.CaseId!, prompt, subject, targetNew, targetTrue, paraphrases, neighbours, relation);
    }
}
