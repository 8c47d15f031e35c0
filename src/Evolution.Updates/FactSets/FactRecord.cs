namespace Evolution.Updates.FactSets;

/// <summary>
/// One edit request of a real fact set and the prompts it is judged on, whatever file format it came from
/// (<see cref="CounterFact"/>, <see cref="ZsRe"/>). This is the record ROME's evaluation reads (Meng et al. 2022, §3.2 and
/// Appendix C; their <c>dsets/counterfact.py</c> and <c>dsets/zsre.py</c> turn both formats into it).
/// </summary>
/// <param name="Id">CounterFact's <c>case_id</c>; for zsRE, which has none, the record's index.</param>
/// <param name="Prompt">The rewrite prompt with the subject in place (CounterFact's <c>prompt</c> with <c>{}</c> filled,
/// zsRE's <c>src</c>), as <see cref="EditRequest.Prompt"/> holds it: the editors find the subject's last token by
/// looking the subject up in this text.</param>
/// <param name="TargetNew">The object the edit writes, without a leading space (the editors and the metrics put
/// " " before it, as ROME's <c>f" {target}"</c>).</param>
/// <param name="TargetTrue">The object the model is presumed to hold before the edit (zsRE: the first of <c>answers</c>).</param>
/// <param name="Paraphrases">Other prompts for the same fact (generalisation, paraphrase success).</param>
/// <param name="Neighbours">Prompts the edit must not change, each with its own true object (locality, neighbourhood success).</param>
/// <param name="RelationId">CounterFact's Wikidata relation (e.g. P103); null for zsRE.</param>
public sealed record FactRecord(string Id, string Prompt, string Subject, string TargetNew, string TargetTrue,
    IReadOnlyList<string> Paraphrases, IReadOnlyList<NeighbourPrompt> Neighbours, string? RelationId = null)
{
    /// <summary>What the editors are asked to write: no essence prompts beyond ROME's own "{subject} is a".</summary>
    public EditRequest Request => new(Prompt, Subject, TargetNew);
}

/// <summary>
/// A prompt the edit should leave alone and the object that continues it. CounterFact's neighbourhood prompts are other
/// subjects with the same relation and true object, so <paramref name="Truth"/> is the record's <c>target_true</c>; zsRE's
/// is an unrelated Natural Questions question (<c>loc</c>) with its answer (<c>loc_ans</c>).
/// </summary>
public sealed record NeighbourPrompt(string Prompt, string Truth);
