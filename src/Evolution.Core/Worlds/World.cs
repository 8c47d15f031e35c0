namespace Evolution.Core.Worlds;

/// <summary>An entity of the world; attributes hold numeric ground truth for probes (latitude, birth_year, ...).</summary>
public sealed record Entity(int Id, string Type, string Name, IReadOnlyDictionary<string, double> Attributes);

/// <summary>A (subject, relation, object) triple, by entity id.</summary>
public sealed record Fact(int Subject, string Relation, int Object);

/// <summary>News: at <see cref="Epoch"/>, the object of (subject, relation) changes.</summary>
public sealed record FactChange(int Epoch, int Subject, string Relation, int OldObject, int NewObject);

/// <summary>
/// A generated world: entities, the facts that hold at each epoch, and the changes between epochs.
/// Deterministic: the same spec gives the same world.
/// </summary>
public sealed class World
{
    readonly List<Dictionary<(int Subject, string Relation), int>> stateByEpoch;
    readonly Dictionary<string, Entity> byName;
    readonly Dictionary<string, HashSet<Template>> heldOut;

    public WorldSpec Spec { get; }
    public IReadOnlyList<Entity> Entities { get; }
    public IReadOnlyList<FactChange> Changes { get; }
    public IReadOnlyList<Relation> Relations => RelationCatalogue.All;

    World(WorldSpec spec, List<Entity> entities, List<Dictionary<(int, string), int>> states, List<FactChange> changes, Dictionary<string, HashSet<Template>> heldOut)
    {
        Spec = spec;
        Entities = entities;
        stateByEpoch = states;
        Changes = changes;
        this.heldOut = heldOut;
        byName = entities.ToDictionary(e => e.Name);
    }

    public Entity this[int id] => Entities[id];

    public Entity? FindByName(string name) => byName.GetValueOrDefault(name);

    public IReadOnlyList<Entity> OfType(string type) => CandidateEntities(type);

    /// <summary>All entities of a type, in id order (the possible objects of relations with that object type).</summary>
    public IReadOnlyList<Entity> CandidateEntities(string type)
    {
        lock (candidatesByType)
        {
            if (!candidatesByType.TryGetValue(type, out var list))
                candidatesByType[type] = list = Entities.Where(e => e.Type == type).ToList();
            return list;
        }
    }

    /// <summary>Candidate answers for an object type: each name with a leading space, as answers follow the prompt.</summary>
    public IReadOnlyList<string> CandidateAnswers(string type)
    {
        lock (answersByType)
        {
            if (!answersByType.TryGetValue(type, out var list))
                answersByType[type] = list = CandidateEntities(type).Select(e => " " + e.Name).ToList();
            return list;
        }
    }

    readonly Dictionary<string, IReadOnlyList<Entity>> candidatesByType = new();
    readonly Dictionary<string, IReadOnlyList<string>> answersByType = new();

    /// <summary>The facts that hold at <paramref name="epoch"/>, ordered by relation (catalogue order) then subject id.</summary>
    public IReadOnlyList<Fact> FactsAt(int epoch)
    {
        var state = State(epoch);
        return RelationCatalogue.All
            .SelectMany(r => OfType(r.SubjectType).Where(s => state.ContainsKey((s.Id, r.Name))).Select(s => new Fact(s.Id, r.Name, state[(s.Id, r.Name)])))
            .ToList();
    }

    public int ObjectOf(int subject, string relation, int epoch) =>
        State(epoch).TryGetValue((subject, relation), out var o) ? o : throw new KeyNotFoundException($"{this[subject].Name} has no '{relation}' fact");

    /// <summary>Object of a two-hop relation: second(first(subject)).</summary>
    public int ObjectOf(int subject, TwoHopRelation twoHop, int epoch) => ObjectOf(ObjectOf(subject, twoHop.First, epoch), twoHop.Second, epoch);

    public bool IsHeldOut(Relation relation, Template template) => heldOut[relation.Name].Contains(template);

    public IReadOnlyList<Template> TrainingTemplates(Relation relation) => relation.Templates.Where(t => !IsHeldOut(relation, t)).ToList();

    /// <summary>The relation's first training statement that ends in the object ("{s} was born in {o}."): the prompt edits
    /// are asked and news is told with, and facts are traced on.</summary>
    public Template CanonicalStatement(Relation relation) => TrainingTemplates(relation).First(t => t.Kind == TemplateKind.Statement && t.IsQuery);

    /// <summary>The relation's first training question ("Q: Where was {s} born? A: {o}"): what an agent asks after the
    /// statements it retrieved, as its context lines were trained.</summary>
    public Template CanonicalQuestion(Relation relation) => TrainingTemplates(relation).First(t => t.Kind == TemplateKind.Question);

    public IReadOnlyList<Template> HeldOutTemplates(Relation relation) => relation.Templates.Where(t => IsHeldOut(relation, t)).ToList();

    Dictionary<(int, string), int> State(int epoch)
    {
        if (epoch < 0 || epoch >= stateByEpoch.Count) throw new ArgumentOutOfRangeException(nameof(epoch), $"epoch {epoch} is outside 0..{stateByEpoch.Count - 1}");
        return stateByEpoch[epoch];
    }

    public static World Generate(WorldSpec spec)
    {
        var random = new Random(spec.Seed);
        var names = new NameGenerator(random);
        var entities = new List<Entity>();
        Entity Add(string type, Dictionary<string, double> attributes)
        {
            var entity = new Entity(entities.Count, type, names.Next(type), attributes);
            entities.Add(entity);
            return entity;
        }

        // Countries sit at random centres; their cities scatter around them, so geography is learnable from the country.
        var countries = Enumerable.Range(0, spec.Count("country")).Select(_ => Add("country", new()
        {
            ["latitude"] = random.Next(-60, 61), ["longitude"] = random.Next(-170, 171),
        })).ToList();
        var cityCountry = new Dictionary<int, int>();
        var cities = Enumerable.Range(0, spec.Count("city")).Select(i =>
        {
            var country = i < countries.Count ? countries[i] : countries[random.Next(countries.Count)];
            var city = Add("city", new()
            {
                ["latitude"] = Math.Clamp(country.Attributes["latitude"] + random.Next(-6, 7), -89, 89),
                ["longitude"] = Math.Clamp(country.Attributes["longitude"] + random.Next(-8, 9), -179, 179),
            });
            cityCountry[city.Id] = country.Id;
            return city;
        }).ToList();
        var people = Enumerable.Range(0, spec.Count("person")).Select(_ => Add("person", new() { ["birth_year"] = random.Next(1900, 2001) })).ToList();
        var companies = Enumerable.Range(0, spec.Count("company")).Select(_ => Add("company", new() { ["founding_year"] = random.Next(1800, 2011) })).ToList();
        var universities = Enumerable.Range(0, spec.Count("university")).Select(_ => Add("university", new())).ToList();

        T Pick<T>(IReadOnlyList<T> list) => list[random.Next(list.Count)];
        var state = new Dictionary<(int, string), int>();
        foreach (var country in countries) state[(country.Id, "capital")] = Pick(cities.Where(c => cityCountry[c.Id] == country.Id).ToList()).Id;
        foreach (var city in cities) state[(city.Id, "located_in")] = cityCountry[city.Id];
        foreach (var person in people)
        {
            state[(person.Id, "born_in")] = Pick(cities).Id;
            state[(person.Id, "citizen_of")] = Pick(countries).Id;
            state[(person.Id, "works_for")] = Pick(companies).Id;
            state[(person.Id, "studied_at")] = Pick(universities).Id;
        }
        foreach (var company in companies)
        {
            state[(company.Id, "headquartered_in")] = Pick(cities).Id;
            state[(company.Id, "ceo")] = Pick(people).Id;
            state[(company.Id, "founded_by")] = Pick(people).Id;
        }
        foreach (var university in universities) state[(university.Id, "university_in")] = Pick(cities).Id;

        // Held-out query templates per relation, chosen by the seed.
        var heldOut = RelationCatalogue.All.ToDictionary(r => r.Name, r =>
        {
            var queries = r.Templates.Where(t => t.IsQuery).ToArray();
            random.Shuffle(queries);
            return queries.Take(spec.HeldOutTemplatesPerRelation).ToHashSet();
        });

        var byName = entities.ToDictionary(e => e.Name);
        var states = new List<Dictionary<(int, string), int>> { state };
        var changes = new List<FactChange>();
        for (int epoch = 1; epoch < spec.Epochs; epoch++)
        {
            var next = new Dictionary<(int, string), int>(states[^1]);
            foreach (var change in spec.Changes.Where(c => c.Epoch == epoch))
            {
                var relation = RelationCatalogue.Get(change.Relation);
                if (change.Subject is not null)
                {
                    var subject = Resolve(change.Subject, relation.SubjectType, "subject");
                    var obj = Resolve(change.Object!, relation.ObjectType, "object");
                    changes.Add(new FactChange(epoch, subject.Id, relation.Name, next[(subject.Id, relation.Name)], obj.Id));
                    next[(subject.Id, relation.Name)] = obj.Id;
                    continue;
                }
                var alreadyChanged = changes.Where(c => c.Epoch == epoch && c.Relation == relation.Name).Select(c => c.Subject).ToHashSet();
                var subjects = entities.Where(e => e.Type == relation.SubjectType && !alreadyChanged.Contains(e.Id)).ToArray();
                if (change.Count > subjects.Length)
                    throw new InputException(spec.Source, $"changes (line {change.Line}).count", $"asks for {change.Count} changes of '{relation.Name}' but there are {subjects.Length} subjects", change.Line);
                random.Shuffle(subjects);
                foreach (var subject in subjects.Take(change.Count))
                {
                    int old = next[(subject.Id, relation.Name)];
                    var options = entities.Where(e => e.Type == relation.ObjectType && e.Id != old
                        && (relation.Name != "capital" || cityCountry[e.Id] == subject.Id)).ToList();
                    if (options.Count == 0) continue; // e.g. a country with a single city keeps its capital
                    int updated = Pick(options).Id;
                    changes.Add(new FactChange(epoch, subject.Id, relation.Name, old, updated));
                    next[(subject.Id, relation.Name)] = updated;
                }
            }
            states.Add(next);
        }
        return new World(spec, entities, states, changes, heldOut);

        Entity Resolve(string name, string type, string field)
        {
            var change = spec.Changes.First(c => c.Subject == name || c.Object == name);
            if (!byName.TryGetValue(name, out var entity))
                throw new InputException(spec.Source, $"changes.{field}", $"no entity named '{name}' in this world", change.Line);
            if (entity.Type != type)
                throw new InputException(spec.Source, $"changes.{field}", $"'{name}' is a {entity.Type}, this relation needs a {type}", change.Line);
            return entity;
        }
    }
}
