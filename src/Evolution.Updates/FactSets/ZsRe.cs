namespace Evolution.Updates.FactSets;

/// <summary>
/// A record of zsRE as MEND (Mitchell et al. 2022) and ROME ship it (<c>zsre_mem_eval.json</c>; Levy et al. 2017's
/// question answering turned into edits):
/// <code>
/// { "subject": "Watts Humphrey", "src": "What university did Watts Humphrey attend?",
///   "rephrase": "What university did Watts Humphrey take part in?", "alt": "University of Michigan",
///   "answers": ["Illinois Institute of Technology"], "loc": "nq question: who played desmond doss father in hacksaw ridge",
///   "loc_ans": "Hugo Weaving" }
/// </code>
/// Read as EasyEdit reads it (Yao et al. 2023, <c>ZsreDataset</c>): the rewrite prompt is <c>src</c>, the new object
/// <c>alt</c>, the true object <c>answers[0]</c>, the one paraphrase <c>rephrase</c>, and the one neighbour <c>loc</c>
/// (kept with its "nq question: " prefix, as EasyEdit keeps it) answered by <c>loc_ans</c>. (ROME's own zsRE loader
/// instead writes <c>answers[0]</c> as the new object and scores the neighbour token by token; the papers' success rates
/// here compare <c>alt</c> with <c>answers[0]</c>, as on CounterFact.) The subject must occur in <c>src</c>: the editors
/// write at its last token.
/// </summary>
public static class ZsRe
{
    public static FactRecord Read(FactSetFields fields)
    {
        var subject = fields.String("subject");
        var question = fields.String("src");
        if (!question.Contains(subject, StringComparison.Ordinal))
            throw fields.Error("subject", $"\"{subject}\" does not occur in src \"{question}\" (the editors write at the subject's last token)");
        var answers = fields.Strings("answers");
        if (answers.Count == 0) throw fields.Error("answers", "is empty: the true answer is answers[0]");
        var alternative = fields.String("alt");
        return new FactRecord(fields.Index.ToString(System.Globalization.CultureInfo.InvariantCulture), question, subject, alternative, answers[0],
            [fields.String("rephrase")], [new NeighbourPrompt(fields.String("loc"), fields.String("loc_ans"))]);
    }
}
