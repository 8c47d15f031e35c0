using Evolution.Core.Yaml;

namespace Evolution.Core.Worlds;

/// <summary>
/// What an agent reads: which part of the world, how often and in which forms. Part of the agent
/// profile (agents/*.yaml, section <c>data</c>); the training mix is where an agent's trust in
/// context and its knowledge gaps come from. Defaults follow Allen-Zhu &amp; Li, "Physics of Language
/// Models 3.1": several augmented biographies per entity (shuffled sentence order, varied
/// templates, full name repeated) plus QA lines make facts extractable by new question forms.
/// </summary>
public sealed record DataMix
{
    /// <summary>Which epoch's facts the agent learns.</summary>
    public int Epoch { get; init; }
    /// <summary>Fraction of each entity type's subjects the agent reads about (seeded choice).</summary>
    public double Coverage { get; init; } = 1.0;
    /// <summary>Augmented biography documents per entity.</summary>
    public int BiographiesPerEntity { get; init; } = 6;
    /// <summary>Question-answer lines per fact (training question templates).</summary>
    public int QaPerFact { get; init; } = 3;
    /// <summary>Share of reverse sentences ("{o} is the capital of {s}.") among biography sentences.</summary>
    public double ReverseShare { get; init; } = 0.05;
    /// <summary>Context-then-question lines per fact (expected count; fractional values are sampled).</summary>
    public double ContextShare { get; init; } = 0.5;
    /// <summary>Of the context lines, the share whose context states a different object than the truth.</summary>
    public double ContextDisagreeShare { get; init; } = 0.3;
    /// <summary>When context and memory disagree, the share of lines whose answer follows the context.</summary>
    public double ContextFollowShare { get; init; } = 0.5;
    /// <summary>
    /// Most statements about other facts mixed into a context line (uniformly 0..max, shuffled with the
    /// relevant one), as retrieval brings them: an agent trained only on one-statement contexts is misled by
    /// whatever else is retrieved. Training with distractors follows RAFT (Zhang et al. 2024).
    /// </summary>
    public int ContextDistractors { get; init; }
    /// <summary>
    /// Share of the distractors that are hard negatives: statements about the same subject or with the same
    /// relation, as a retriever ranks them (RAFT draws its distractors from retrieval). With random distractors
    /// only, an agent can find the relevant statement by its relation alone and copies the wrong object when
    /// retrieval brings a statement with the same relation about someone else.
    /// </summary>
    public double ContextHardDistractorShare { get; init; }
    /// <summary>
    /// Share of context lines whose query is a statement to complete ("Context: … Kemtaro Drassil was born in
    /// Ostravel.") instead of a question. Retrieval puts its context in front of whatever prompt is asked,
    /// statement completions included; an agent that only ever read contexts before questions does not use
    /// them before a statement (on the default agent, 0.14 accuracy on retrieved changed facts, issue 4).
    /// </summary>
    public double ContextStatementShare { get; init; }
    /// <summary>
    /// Peer-statement lines per fact (expected count): "Context: &lt;1-5 peers' statements&gt; Q: … A: …",
    /// the format agents see in a debate. What the agent learns from them about following a group
    /// is set by the two shares below (the social side of the data mix).
    /// </summary>
    public double PeerLinesPerFact { get; init; }
    /// <summary>Of the peer lines, the share in which the majority of peers states the truth.</summary>
    public double PeerMajorityRightShare { get; init; } = 0.7;
    /// <summary>When the majority is wrong, the share of peer lines whose answer follows the majority (conformity in the data).</summary>
    public double PeerFollowShare { get; init; } = 0.5;
    /// <summary>
    /// Count-dependent conformity in the data: when set, a wrong majority of n peers is followed with the n-th share (1 to 5
    /// peers) instead of <see cref="PeerFollowShare"/>, so a rising list teaches an agent to count its peers (Asch's curve
    /// rises with the majority's size up to three or four) where one share teaches it to follow any majority alike. Null
    /// (the default) leaves the corpus, and the cache key, as they were.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<double>? PeerFollowByCount { get; init; }

    /// <summary>The share of peer lines with a wrong majority of <paramref name="wrongPeers"/> whose answer follows it.</summary>
    public double PeerFollow(int wrongPeers) => PeerFollowByCount is { } shares ? shares[Math.Clamp(wrongPeers, 1, shares.Count) - 1] : PeerFollowShare;
    /// <summary>Share of facts the agent is taught with a wrong object (consistently, in every document).</summary>
    public double MisinformationShare { get; init; }
    /// <summary>Share of subjects of each two-hop relation whose composed fact appears in training; the rest are two-hop eval.</summary>
    public double TwoHopShare { get; init; } = 0.5;
    /// <summary>Two-hop lines per training subject and composition.</summary>
    public int TwoHopLinesPerFact { get; init; } = 2;
    /// <summary>
    /// Every pass over the corpus reads newly drawn documents (biography templates and sentence orders, question
    /// templates, context lines with their disagreeing objects and distractors, peer lines) about the same facts,
    /// instead of the first pass's documents again; what the agent is taught, misinformation included, is the same
    /// in every pass. Repeated context lines can be learnt line by line; fresh ones only as a skill (reading).
    /// Off by default so profiles written before it train as they did (and keep their cache keys).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingDefault)]
    public bool FreshPasses { get; init; }

    public static DataMix FromYaml(YamlMap yaml)
    {
        var d = new DataMix();
        var mix = new DataMix
        {
            Epoch = yaml.Int("epoch", d.Epoch),
            Coverage = yaml.Double("coverage", d.Coverage),
            BiographiesPerEntity = yaml.Int("biographies_per_entity", d.BiographiesPerEntity),
            QaPerFact = yaml.Int("qa_per_fact", d.QaPerFact),
            ReverseShare = yaml.Double("reverse_share", d.ReverseShare),
            ContextShare = yaml.Double("context_share", d.ContextShare),
            ContextDisagreeShare = yaml.Double("context_disagree_share", d.ContextDisagreeShare),
            ContextFollowShare = yaml.Double("context_follow_share", d.ContextFollowShare),
            ContextDistractors = yaml.Int("context_distractors", d.ContextDistractors),
            ContextStatementShare = yaml.Double("context_statement_share", d.ContextStatementShare),
            ContextHardDistractorShare = yaml.Double("context_hard_distractor_share", d.ContextHardDistractorShare),
            PeerLinesPerFact = yaml.Double("peer_lines_per_fact", d.PeerLinesPerFact),
            PeerMajorityRightShare = yaml.Double("peer_majority_right_share", d.PeerMajorityRightShare),
            PeerFollowShare = yaml.Double("peer_follow_share", d.PeerFollowShare),
            PeerFollowByCount = yaml.Has("peer_follow_by_count") ? yaml.DoubleList("peer_follow_by_count") : null,
            MisinformationShare = yaml.Double("misinformation_share", d.MisinformationShare),
            TwoHopShare = yaml.Double("two_hop_share", d.TwoHopShare),
            TwoHopLinesPerFact = yaml.Int("two_hop_lines_per_fact", d.TwoHopLinesPerFact),
            FreshPasses = yaml.Bool("fresh_passes", d.FreshPasses),
        };
        void Share(string key, double value)
        {
            if (value is < 0 or > 1) throw yaml.Invalid(key, $"must be between 0 and 1, got {value}");
        }
        Share("coverage", mix.Coverage);
        Share("reverse_share", mix.ReverseShare);
        Share("context_disagree_share", mix.ContextDisagreeShare);
        Share("context_follow_share", mix.ContextFollowShare);
        Share("context_statement_share", mix.ContextStatementShare);
        Share("context_hard_distractor_share", mix.ContextHardDistractorShare);
        Share("misinformation_share", mix.MisinformationShare);
        Share("peer_majority_right_share", mix.PeerMajorityRightShare);
        Share("peer_follow_share", mix.PeerFollowShare);
        if (mix.PeerFollowByCount is { } byCount)
        {
            if (byCount.Count != 5) throw yaml.Invalid("peer_follow_by_count", $"needs five shares, for wrong majorities of 1 to 5 peers; got {byCount.Count}");
            foreach (var share in byCount) Share("peer_follow_by_count", share);
        }
        if (mix.PeerLinesPerFact < 0) throw yaml.Invalid("peer_lines_per_fact", $"must not be negative, got {mix.PeerLinesPerFact}");
        Share("two_hop_share", mix.TwoHopShare);
        if (mix.Coverage == 0) throw yaml.Invalid("coverage", "must be above 0");
        if (mix.ContextShare < 0) throw yaml.Invalid("context_share", $"must not be negative, got {mix.ContextShare}");
        foreach (var (key, value) in new[] { ("epoch", mix.Epoch), ("biographies_per_entity", mix.BiographiesPerEntity), ("qa_per_fact", mix.QaPerFact), ("context_distractors", mix.ContextDistractors), ("two_hop_lines_per_fact", mix.TwoHopLinesPerFact) })
            if (value < 0) throw yaml.Invalid(key, $"must not be negative, got {value}");
        yaml.RejectUnknownKeys();
        return mix;
    }

    /// <summary>Checks what depends on the world (the epoch must exist).</summary>
    public void Validate(World world, string source)
    {
        if (Epoch >= world.Spec.Epochs)
            throw new InputException(source, "data.epoch", $"the world has epochs 0..{world.Spec.Epochs - 1}, got {Epoch}");
    }
}
