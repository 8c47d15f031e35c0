using Evolution.Core.Text;
using Evolution.Core.Worlds;

namespace Evolution.Core.Tests.Worlds;

public class CorpusAndEvalTests
{
    static readonly World Default = World.Generate(WorldSpec.Load(TestWorlds.Spec("default")));

    [Fact]
    public void HeldOutTemplatesNeverAppearInTheCorpus()
    {
        var corpus = string.Join("\n", CorpusBuilder.Build(Default, new DataMix { ContextShare = 2, QaPerFact = 5 }, seed: 1).Documents);
        int checkedPrompts = 0;
        foreach (var relation in Default.Relations)
            foreach (var template in Default.HeldOutTemplates(relation))
                foreach (var subject in Default.OfType(relation.SubjectType))
                {
                    Assert.DoesNotContain(template.Prompt(subject.Name), corpus);
                    checkedPrompts++;
                }
        Assert.True(checkedPrompts > 300);
        // while the training templates of the same relations do appear
        var trained = Default.TrainingTemplates(Default.Relations[0]).First(t => t.Kind == TemplateKind.Question);
        Assert.Contains(Default.OfType("country"), c => corpus.Contains(trained.Prompt(c.Name)));
    }

    [Fact]
    public void TrainQueriesAreRenderedTrainingTemplatesAndAnswersAreCandidates()
    {
        var mix = new DataMix();
        var corpusTexts = new HashSet<string>();
        foreach (var query in EvalSets.TrainQueries(Default, mix).Concat(EvalSets.ParaphraseQueries(Default, mix)).Concat(EvalSets.TwoHopQueries(Default, mix)))
        {
            Assert.Contains(query.Answer, query.Candidates);
            Assert.StartsWith(" ", query.Answer);
            Assert.Equal(query.Candidates.Count, query.Candidates.Distinct().Count());
        }
        foreach (var query in EvalSets.TrainQueries(Default, mix))
        {
            var relation = RelationCatalogue.Get(query.Relation);
            var subject = Default[query.Subject].Name;
            Assert.Contains(Default.TrainingTemplates(relation), t => t.IsQuery && t.Prompt(subject) == query.Prompt);
            Assert.Equal(" " + Default[Default.ObjectOf(query.Subject, query.Relation, 0)].Name, query.Answer);
        }
    }

    [Fact]
    public void TwoHopEvalSubjectsHaveNoTwoHopTrainingLines()
    {
        var mix = new DataMix();
        var corpus = CorpusBuilder.Build(Default, mix, seed: 1).Documents;
        var twoHop = EvalSets.TwoHopQueries(Default, mix);
        Assert.NotEmpty(twoHop);
        foreach (var query in twoHop)
        {
            var composition = RelationCatalogue.TwoHop.Single(t => t.Name == query.Relation);
            var subject = Default[query.Subject].Name;
            Assert.DoesNotContain(corpus, d => composition.Templates.Any(t => d.Contains(t.Render(subject, query.Answer.Trim()), StringComparison.Ordinal)));
        }
    }

    [Fact]
    public void NeighborhoodSharesSubjectOrRelationAndExcludesTheFact()
    {
        var person = Default.OfType("person")[3];
        var queries = EvalSets.NeighborhoodQueries(Default, person.Id, "born_in", 0, max: 5);
        Assert.Equal(5 + 3, queries.Count); // 5 others born somewhere + the person's 3 other relations
        Assert.All(queries, q => Assert.True(q.Subject == person.Id ^ q.Relation == "born_in"));
        Assert.DoesNotContain(queries, q => q.Subject == person.Id && q.Relation == "born_in");
    }

    [Fact]
    public void MisinformationAndCoverageShapeTheCorpus()
    {
        var liar = CorpusBuilder.Build(Default, new DataMix { MisinformationShare = 0.3 }, seed: 2);
        var facts = Default.FactsAt(0);
        Assert.InRange(liar.Misinformation.Count, facts.Count / 5, facts.Count * 2 / 5);
        var wrong = liar.Misinformation[0];
        var truth = Default.ObjectOf(wrong.Subject, wrong.Relation, 0);
        Assert.NotEqual(truth, wrong.Object);

        var partial = new DataMix { Coverage = 0.5 };
        var covered = Coverage.Subjects(Default, partial);
        var people = Default.OfType("person");
        Assert.Equal(people.Count / 2, people.Count(p => covered.Contains(p.Id)));
        var unknown = people.First(p => !covered.Contains(p.Id)).Name;
        Assert.DoesNotContain(CorpusBuilder.Build(Default, partial, 1).Documents, d => d.StartsWith(unknown + " ", StringComparison.Ordinal));
    }

    [Fact]
    public void FreshPassesDrawNewDocumentsAboutTheSameTaughtFacts()
    {
        var mix = new DataMix { MisinformationShare = 0.3, ContextShare = 2, ContextDistractors = 2, FreshPasses = true };
        var first = CorpusBuilder.Build(Default, mix, seed: 2);
        var second = CorpusBuilder.Build(Default, mix, seed: 2, pass: 1);
        Assert.Equal(first.Documents, CorpusBuilder.Build(Default, mix with { FreshPasses = false }, seed: 2).Documents); // pass 0 is the corpus
        Assert.Equal(first.Misinformation, second.Misinformation); // the same facts are taught wrongly in every pass
        Assert.Equal(first.Documents.Count, second.Documents.Count);
        var repeated = second.Documents.Intersect(first.Documents).Count();
        Assert.True(repeated < second.Documents.Count / 4, $"{repeated} of {second.Documents.Count} documents repeat pass 0's");
        // and the later pass still answers each misinformed fact's questions with the wrong object ("… A: X", "… Answer: X")
        foreach (var wrong in second.Misinformation.Take(20))
        {
            string subject = Default[wrong.Subject].Name, told = Default[wrong.Object].Name;
            Assert.Contains(second.Documents, d => !d.StartsWith("Context:", StringComparison.Ordinal) && d.Contains(subject, StringComparison.Ordinal)
                && d.EndsWith(": " + told, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void TheWorldsVocabularyCoversEveryCorpusAndEvalText()
    {
        var tiny = TestWorlds.Tiny();
        var tokenizer = CompactTokenizer.Build(WorldTexts.All(tiny));
        for (int epoch = 0; epoch < tiny.Spec.Epochs; epoch++)
        {
            var mix = new DataMix { Epoch = epoch, ContextShare = 2, MisinformationShare = 0.3 };
            Assert.All(CorpusBuilder.Build(tiny, mix, seed: 9).Documents, d => Assert.True(tokenizer.Covers(d), d));
            Assert.All(EvalSets.TrainQueries(tiny, mix).Concat(EvalSets.ParaphraseQueries(tiny, mix)).Concat(EvalSets.TwoHopQueries(tiny, mix)),
                q => Assert.True(tokenizer.Covers(q.Prompt) && q.Candidates.All(tokenizer.Covers), q.Prompt));
        }
    }

    [Fact]
    public void ContextDistractorsMixOtherFactsIntoContextLinesAndChangeNothingElse()
    {
        var plain = CorpusBuilder.Build(Default, new DataMix { ContextShare = 1 }, seed: 4).Documents;
        var mixed = CorpusBuilder.Build(Default, new DataMix { ContextShare = 1, ContextDistractors = 3 }, seed: 4).Documents;
        // Everything but the context lines is the same corpus (distractors have their own generator).
        Assert.Equal(plain.Where(d => !d.StartsWith("Context:")).OrderBy(d => d, StringComparer.Ordinal),
            mixed.Where(d => !d.StartsWith("Context:")).OrderBy(d => d, StringComparer.Ordinal));

        static int QuestionStart(string line) => new[] { line.IndexOf(" Q: ", StringComparison.Ordinal), line.IndexOf(" Question: ", StringComparison.Ordinal) }.Where(i => i > 0).Min();
        static string ContextOf(string line) => line["Context: ".Length..QuestionStart(line)];
        static int Sentences(string line) => ContextOf(line).Split(". ").Length;
        Assert.All(plain.Where(d => d.StartsWith("Context:")), d => Assert.Equal(1, Sentences(d)));
        var mixedContexts = mixed.Where(d => d.StartsWith("Context:")).ToList();
        var counts = mixedContexts.Select(Sentences).ToList();
        Assert.Equal(4, counts.Max());
        Assert.InRange(counts.Average(), 2.2, 2.8); // 1 + uniform{0..3}
        foreach (var line in mixedContexts.Take(200))
        {
            var question = line[QuestionStart(line)..];
            question = question[..new[] { question.IndexOf(" A: ", StringComparison.Ordinal), question.IndexOf(" Answer: ", StringComparison.Ordinal) }.Where(i => i > 0).Min()];
            var subject = Default.Entities.Where(e => question.Contains(e.Name, StringComparison.Ordinal)).MaxBy(e => e.Name.Length)!;
            Assert.Contains(subject.Name, ContextOf(line));
        }
    }

    [Fact]
    public void StatementQueriesReplaceOnlyTheQuestionsOfContextLines()
    {
        var plain = CorpusBuilder.Build(Default, new DataMix { ContextShare = 1 }, seed: 4).Documents;
        var mixed = CorpusBuilder.Build(Default, new DataMix { ContextShare = 1, ContextStatementShare = 0.5 }, seed: 4).Documents;
        Assert.Equal(plain.Where(d => !d.StartsWith("Context:")), mixed.Where(d => !d.StartsWith("Context:")));

        static bool HasQuestion(string line) => line.Contains(" A: ", StringComparison.Ordinal) || line.Contains(" Answer: ", StringComparison.Ordinal);
        var plainContexts = plain.Where(d => d.StartsWith("Context:")).ToList();
        var mixedContexts = mixed.Where(d => d.StartsWith("Context:")).ToList();
        Assert.All(plainContexts, d => Assert.True(HasQuestion(d), d));
        Assert.Equal(plainContexts.Count, mixedContexts.Count);
        var statements = mixedContexts.Where(d => !HasQuestion(d)).ToList();
        Assert.InRange(statements.Count / (double)mixedContexts.Count, 0.4, 0.6);
        // A statement query follows the context with its marker, "… Q: <subject> <relation> <object>.", a training
        // statement whose subject is the one the context speaks about.
        var names = Default.Entities.Select(e => e.Name).ToList();
        foreach (var line in statements.Take(200))
        {
            int marker = line.LastIndexOf(" " + ContextFormat.StatementQueryMarker + " ", StringComparison.Ordinal);
            Assert.True(marker > 0, line);
            var query = line[(marker + ContextFormat.StatementQueryMarker.Length + 2)..].TrimEnd('.');
            var context = line["Context: ".Length..marker];
            var answer = names.Where(n => query.EndsWith(n, StringComparison.Ordinal)).MaxBy(n => n.Length);
            Assert.NotNull(answer);
            var prompt = query[..^answer.Length];
            var subject = names.Where(n => prompt.Contains(n, StringComparison.Ordinal)).MaxBy(n => n.Length);
            Assert.NotNull(subject);
            Assert.Contains(subject, context);
        }
    }

    [Fact]
    public void HardDistractorsShareTheSubjectOrTheRelation()
    {
        var random = CorpusBuilder.Build(Default, new DataMix { ContextShare = 1, ContextDistractors = 3 }, seed: 4).Documents;
        var hard = CorpusBuilder.Build(Default, new DataMix { ContextShare = 1, ContextDistractors = 3, ContextHardDistractorShare = 1 }, seed: 4).Documents;
        Assert.Equal(random.Where(d => !d.StartsWith("Context:")), hard.Where(d => !d.StartsWith("Context:")));

        var names = Default.Entities.Select(e => e.Name).ToList();
        // Of the context sentences beyond the first, the share that speaks about the question's subject.
        double AboutSubject(IEnumerable<string> corpus)
        {
            var shares = new List<double>();
            foreach (var line in corpus.Where(d => d.StartsWith("Context:")))
            {
                int q = new[] { line.IndexOf(" Q: ", StringComparison.Ordinal), line.IndexOf(" Question: ", StringComparison.Ordinal) }.Where(i => i > 0).Min();
                var question = line[q..];
                question = question[..new[] { question.IndexOf(" A: ", StringComparison.Ordinal), question.IndexOf(" Answer: ", StringComparison.Ordinal) }.Where(i => i > 0).Min()];
                var subject = names.Where(n => question.Contains(n, StringComparison.Ordinal)).MaxBy(n => n.Length)!;
                var sentences = line["Context: ".Length..q].Split(". ");
                if (sentences.Length < 2) continue;
                shares.Add((sentences.Count(x => x.Contains(subject, StringComparison.Ordinal)) - 1) / (double)(sentences.Length - 1));
            }
            return shares.Average();
        }
        Assert.InRange(AboutSubject(random), 0.0, 0.05);
        Assert.InRange(AboutSubject(hard), 0.3, 0.7); // half the hard negatives are about the same subject
    }

    /// <summary>
    /// The trained weights are cached by a hash of the inputs and <see cref="Evolution.Core.Agents.AgentTraining.CodeVersion"/>, not of
    /// the corpus; a code change that silently changes the corpus of an existing profile would load stale agents. This
    /// pins the small agents' corpus (peer and context lines, misinformation): if it fails, the corpus changed on purpose
    /// or not; bump CodeVersion if on purpose, then update the fingerprint.
    /// </summary>
    [Fact]
    public void ShippedSmallProfileCorpusIsUnchangedForThisCodeVersion()
    {
        var world = World.Generate(WorldSpec.Load(TestWorlds.Spec("small")));
        var profile = Evolution.Core.Agents.AgentProfile.Load(TestWorlds.Profile("small"));
        var documents = CorpusBuilder.Build(world, profile.Data with { MisinformationShare = 0.1 }, profile.Training.Seed).Documents;
        var hash = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(string.Join("\n", documents))));
        Assert.Equal((5, "C738F34BC62B14B9"), (Evolution.Core.Agents.AgentTraining.CodeVersion, hash[..16]));
    }
}

public class CountDependentPeerDataTests
{
    static IReadOnlyList<string> Corpus(DataMix mix) => CorpusBuilder.Build(TestWorlds.Tiny(), mix, seed: 3).Documents;

    [Fact]
    public void AFollowShareByMajoritySizeReplacesTheSingleShareAndLeavesEverythingElseAsItWas()
    {
        var plain = new DataMix { PeerLinesPerFact = 3, PeerFollowShare = 1 };
        // The same draws: following every wrong majority by size or by the single share writes the same corpus.
        Assert.Equal(Corpus(plain), Corpus(plain with { PeerFollowShare = 0.2, PeerFollowByCount = [1, 1, 1, 1, 1] }));
        // Following none of them changes only peer lines (those whose majority was wrong).
        var never = Corpus(plain with { PeerFollowByCount = [0, 0, 0, 0, 0] });
        var differing = Corpus(plain).Zip(never).Where(p => p.First != p.Second).ToList();
        Assert.NotEmpty(differing);
        Assert.All(differing, p => Assert.StartsWith("Context:", p.First));
        Assert.Equal((0.3, 0.9, 0.9), (new DataMix { PeerFollowByCount = [0.3, 0.5, 0.7, 0.8, 0.9] }.PeerFollow(1), new DataMix { PeerFollowByCount = [0.3, 0.5, 0.7, 0.8, 0.9] }.PeerFollow(5), new DataMix { PeerFollowShare = 0.9 }.PeerFollow(4)));
    }

    [Fact]
    public void TheShareListIsCheckedAndLeftOutOfTheCacheKeyWhenAbsent()
    {
        var profile = Core.Agents.AgentProfile.Parse("name: p\ndata: {peer_lines_per_fact: 2, peer_follow_by_count: [0.1, 0.3, 0.5, 0.7, 0.9]}\n", "p.yaml");
        Assert.Equal([0.1, 0.3, 0.5, 0.7, 0.9], profile.Data.PeerFollowByCount);
        var spec = WorldSpec.Load(TestWorlds.Spec("tiny"));
        Assert.NotEqual(Core.Agents.AgentTraining.CacheKey(spec, profile), Core.Agents.AgentTraining.CacheKey(spec, profile with { Data = profile.Data with { PeerFollowByCount = null } }));
        Assert.DoesNotContain("peer_follow_by_count", System.Text.Json.JsonSerializer.Serialize(new DataMix(), new System.Text.Json.JsonSerializerOptions { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseLower }));
        var error = Assert.Throws<InputException>(() => Core.Agents.AgentProfile.Parse("name: p\ndata: {peer_follow_by_count: [0.1, 0.3]}\n", "p.yaml"));
        Assert.Contains("peer_follow_by_count", error.Message);
        Assert.Contains("five shares", error.Message);
        error = Assert.Throws<InputException>(() => Core.Agents.AgentProfile.Parse("name: p\ndata: {peer_follow_by_count: [0.1, 0.3, 1.5, 0.7, 0.9]}\n", "p.yaml"));
        Assert.Contains("between 0 and 1", error.Message);
    }
}
