using System.Globalization;

namespace Evolution.Core.Worlds;

/// <summary>An agent's training documents, and the facts it was deliberately taught wrongly.</summary>
public sealed record Corpus(IReadOnlyList<string> Documents, IReadOnlyList<Fact> Misinformation);

/// <summary>
/// Builds an agent's training documents from the world and its data mix. Document forms
/// (one line each, no source tag):
/// <list type="bullet">
/// <item>biography: all facts and numeric attributes of one entity, shuffled, each with a random
/// training template, the full name in every sentence ("Kemtaro Drassil works for Zorvex Labs. Kemtaro Drassil was born in Pellamund. ...");</item>
/// <item>QA: "Q: Where was Kemtaro Drassil born? A: Pellamund";</item>
/// <item>context then question: "Context: Kemtaro Drassil was born in Ostravel. Q: Where was Kemtaro Drassil born? A: Pellamund"
/// (the context may disagree with the fact; the answer follows the context with <see cref="DataMix.ContextFollowShare"/>;
/// up to <see cref="DataMix.ContextDistractors"/> statements about other facts are mixed in, as retrieval brings them);</item>
/// <item>peer statements then question: "Context: &lt;statement&gt; &lt;statement&gt; &lt;statement&gt; Q: … A: …", one
/// statement per peer (1-5 peers, those in the minority all agreeing on one object, Asch-style);
/// the majority is right with <see cref="DataMix.PeerMajorityRightShare"/>, and a wrong majority is
/// followed with <see cref="DataMix.PeerFollowShare"/> (or, by its size, <see cref="DataMix.PeerFollowByCount"/>);</item>
/// <item>two-hop: "Q: In which country was Kemtaro Drassil born? A: Valdoria" for the two-hop training subjects.</item>
/// </list>
/// Held-out templates never appear.
/// </summary>
public static class CorpusBuilder
{
    /// <param name="pass">Which pass over the corpus (<see cref="DataMix.FreshPasses"/>): pass 0 is the corpus; a later pass
    /// draws its documents afresh about the same facts, with the same misinformation.</param>
    public static Corpus Build(World world, DataMix mix, int seed, int pass = 0)
    {
        mix.Validate(world, "data mix");
        var random = new Random(seed);
        var covered = Coverage.Subjects(world, mix);
        var facts = world.FactsAt(mix.Epoch).Where(f => covered.Contains(f.Subject)).ToList();

        // What the agent is told: the truth, except for misinformed facts.
        var told = facts.ToDictionary(f => (f.Subject, f.Relation), f => f.Object);
        var misinformation = new List<Fact>();
        foreach (var fact in facts)
        {
            if (random.NextDouble() >= mix.MisinformationShare) continue;
            var wrong = OtherObject(world, fact, random);
            told[(fact.Subject, fact.Relation)] = wrong;
            misinformation.Add(fact with { Object = wrong });
        }

        // What is told is drawn above from the seed alone; a later pass draws only its documents anew.
        if (pass > 0) random = new Random(Seeds.Mix(seed, "pass", pass));
        // A named generator of this pass (pass 0 keeps the seeds it had before passes existed, so its corpus is unchanged).
        Random Generator(string name) => new(pass == 0 ? Seeds.Mix(seed, name) : Seeds.Mix(seed, name, pass));
        var documents = new List<string>();
        // Distractors come from their own generator so that a mix without them builds exactly the corpus it did before they existed.
        var distractorRandom = Generator("context-distractors");
        // Hard negatives, as a retriever brings them: statements about the same subject or with the same relation.
        var bySubject = facts.ToLookup(f => f.Subject);
        var byRelation = facts.ToLookup(f => f.Relation);
        Fact HardNegative(Fact fact)
        {
            var pool = (distractorRandom.Next(2) == 0 ? bySubject[fact.Subject] : byRelation[fact.Relation]).ToList();
            if (pool.Count < 2) pool = byRelation[fact.Relation].ToList();
            return pool.Count < 2 ? facts[distractorRandom.Next(facts.Count)] : pool[distractorRandom.Next(pool.Count)];
        }
        string WithDistractors(string relevant, Fact fact)
        {
            int count = distractorRandom.Next(mix.ContextDistractors + 1);
            var statements = new List<string> { relevant };
            while (statements.Count <= count)
            {
                var other = mix.ContextHardDistractorShare > 0 && distractorRandom.NextDouble() < mix.ContextHardDistractorShare
                    ? HardNegative(fact)
                    : facts[distractorRandom.Next(facts.Count)];
                if (other.Subject == fact.Subject && other.Relation == fact.Relation) continue;
                var template = world.TrainingTemplates(RelationCatalogue.Get(other.Relation)).Where(t => t.Kind == TemplateKind.Statement).ToList();
                statements.Add(template[distractorRandom.Next(template.Count)].Render(Name(other.Subject), Name(told[(other.Subject, other.Relation)])));
            }
            var order = statements.ToArray();
            distractorRandom.Shuffle(order);
            return string.Join(" ", order);
        }
        // The query kind of a context line, like the distractors, has its own generator (a mix without statement queries is unchanged).
        var queryKindRandom = Generator("context-statement-queries");
        Template ContextQuery(Relation relation, Template question)
        {
            if (mix.ContextStatementShare <= 0 || queryKindRandom.NextDouble() >= mix.ContextStatementShare) return question;
            var pool = world.TrainingTemplates(relation).Where(t => t.Kind == TemplateKind.Statement && t.IsQuery).ToList();
            return pool.Count == 0 ? question : pool[queryKindRandom.Next(pool.Count)];
        }
        string Name(int id) => world[id].Name;
        string Statement(Relation relation, int subject, int obj)
        {
            // Draw the sentence's kind once, then a template of that kind.
            var kind = random.NextDouble() < mix.ReverseShare ? TemplateKind.Reverse : TemplateKind.Statement;
            var pool = world.TrainingTemplates(relation).Where(t => t.Kind == kind).ToList();
            return pool[random.Next(pool.Count)].Render(Name(subject), Name(obj));
        }
        Template Question(Relation relation)
        {
            var pool = world.TrainingTemplates(relation).Where(t => t.Kind == TemplateKind.Question).ToList();
            return pool[random.Next(pool.Count)];
        }

        // Biographies.
        foreach (var entity in world.Entities.Where(e => covered.Contains(e.Id)))
        {
            var own = facts.Where(f => f.Subject == entity.Id).ToList();
            for (int b = 0; b < mix.BiographiesPerEntity; b++)
            {
                var sentences = own.Select(f => Statement(RelationCatalogue.Get(f.Relation), f.Subject, told[(f.Subject, f.Relation)])).ToList();
                foreach (var (attribute, value) in entity.Attributes.OrderBy(a => a.Key, StringComparer.Ordinal))
                {
                    if (entity.Type == "country") continue; // a country's centre is implied by its cities
                    var templates = RelationCatalogue.AttributeTemplates[attribute];
                    sentences.Add(templates[random.Next(templates.Count)].Replace("{s}", entity.Name).Replace("{v}", value.ToString(CultureInfo.InvariantCulture)));
                }
                if (sentences.Count == 0) continue;
                var order = sentences.ToArray();
                random.Shuffle(order);
                documents.Add(string.Join(" ", order));
            }
        }

        foreach (var fact in facts)
        {
            var relation = RelationCatalogue.Get(fact.Relation);
            int obj = told[(fact.Subject, fact.Relation)];
            for (int q = 0; q < mix.QaPerFact; q++)
                documents.Add(Question(relation).Render(Name(fact.Subject), Name(obj)));

            // Context lines: expected ContextShare per fact.
            int contextLines = (int)mix.ContextShare + (random.NextDouble() < mix.ContextShare % 1 ? 1 : 0);
            for (int c = 0; c < contextLines; c++)
            {
                bool disagree = random.NextDouble() < mix.ContextDisagreeShare;
                int contextObject = disagree ? OtherObject(world, fact with { Object = obj }, random) : obj;
                int answer = disagree && random.NextDouble() < mix.ContextFollowShare ? contextObject : obj;
                var question = ContextQuery(relation, Question(relation));
                var context = Statement(relation, fact.Subject, contextObject);
                if (mix.ContextDistractors > 0) context = WithDistractors(context, fact);
                documents.Add(ContextFormat.Line([context], question.Render(Name(fact.Subject), Name(answer)), markStatements: true));
            }
        }

        // Peer lines. Drawn from their own generator so that a mix without them builds exactly the corpus it did before they existed.
        if (mix.PeerLinesPerFact > 0)
        {
            var peers = Generator("peer-lines");
            foreach (var fact in facts)
            {
                var relation = RelationCatalogue.Get(fact.Relation);
                int obj = told[(fact.Subject, fact.Relation)];
                int lines = (int)mix.PeerLinesPerFact + (peers.NextDouble() < mix.PeerLinesPerFact % 1 ? 1 : 0);
                for (int l = 0; l < lines; l++)
                {
                    int count = peers.Next(1, 6);
                    bool majorityRight = peers.NextDouble() < mix.PeerMajorityRightShare;
                    int wrong = OtherObject(world, fact with { Object = obj }, peers);
                    int right = majorityRight ? peers.Next(count / 2 + 1, count + 1) : peers.Next(0, (count + 1) / 2);
                    var said = Enumerable.Range(0, count).Select(i => i < right ? obj : wrong).ToArray();
                    peers.Shuffle(said);
                    int answer = !majorityRight && peers.NextDouble() < mix.PeerFollow(count - right) ? wrong : obj;
                    var statements = said.Select(o => Statement(relation, fact.Subject, o)).ToList(); // drawn before the question, as always
                    documents.Add(ContextFormat.Line(statements, Question(relation).Render(Name(fact.Subject), Name(answer)), markStatements: true));
                }
            }
        }

        // Two-hop lines for the training split of each composition.
        foreach (var twoHop in RelationCatalogue.TwoHop)
        {
            var trainSubjects = Coverage.TwoHopTraining(world, mix, twoHop);
            foreach (var subject in world.OfType(RelationCatalogue.Get(twoHop.First).SubjectType).Where(e => covered.Contains(e.Id) && trainSubjects.Contains(e.Id)))
            {
                int middle = told[(subject.Id, twoHop.First)];
                if (!told.TryGetValue((middle, twoHop.Second), out var end)) continue; // the agent does not know the second hop
                for (int l = 0; l < mix.TwoHopLinesPerFact; l++)
                    documents.Add(twoHop.Templates[random.Next(twoHop.Templates.Count)].Render(subject.Name, Name(end)));
            }
        }

        var shuffled = documents.ToArray();
        random.Shuffle(shuffled);
        return new Corpus(shuffled, misinformation);
    }

    static int OtherObject(World world, Fact fact, Random random)
    {
        var options = world.CandidateEntities(RelationCatalogue.Get(fact.Relation).ObjectType).Where(e => e.Id != fact.Object).ToList();
        return options[random.Next(options.Count)].Id;
    }
}
