namespace Evolution.Core.Worlds;

public enum TemplateKind
{
    /// <summary>A declarative sentence, "{s} was born in {o}."</summary>
    Statement,
    /// <summary>A question with its answer, "Q: Where was {s} born? A: {o}"</summary>
    Question,
    /// <summary>Object before subject, "{o} is the birthplace of {s}." Trains the reverse direction; never a query.</summary>
    Reverse,
}

/// <summary>
/// A way to say a fact. <c>{s}</c> is the subject's name, <c>{o}</c> the object's. A template with
/// <c>{o}</c> after <c>{s}</c> is a query: its prompt is the text before <c>{o}</c> (trailing space
/// trimmed) and its answer is " " + object.
/// </summary>
public sealed record Template(string Text, TemplateKind Kind)
{
    public bool IsQuery => Kind != TemplateKind.Reverse && Text.IndexOf("{o}", StringComparison.Ordinal) > Text.IndexOf("{s}", StringComparison.Ordinal);

    public string Render(string subject, string obj) => Text.Replace("{s}", subject).Replace("{o}", obj);

    /// <summary>The prompt of a query: everything before the object.</summary>
    public string Prompt(string subject) => Text[..Text.IndexOf("{o}", StringComparison.Ordinal)].TrimEnd().Replace("{s}", subject);
}

/// <summary>A relation between entity types with its templates (many, so paraphrases generalise: Allen-Zhu &amp; Li 2023).</summary>
public sealed record Relation(string Name, string SubjectType, string ObjectType, IReadOnlyList<Template> Templates);

/// <summary>A composition r2∘r1 asked as one question: the object of r2 for the object of r1 of the subject.</summary>
public sealed record TwoHopRelation(string Name, string First, string Second, IReadOnlyList<Template> Templates);

/// <summary>The catalogue of relations and their templates. Order matters (determinism); never reorder, only append.</summary>
public static class RelationCatalogue
{
    static Template S(string t) => new(t, TemplateKind.Statement);
    static Template Q(string t) => new(t, TemplateKind.Question);
    static Template R(string t) => new(t, TemplateKind.Reverse);

    public static readonly IReadOnlyList<Relation> All =
    [
        new("capital", "country", "city",
        [
            S("The capital of {s} is {o}."), S("The capital city of {s} is {o}."), S("{s} has its capital in {o}."),
            S("{s} is governed from its capital, {o}."), S("In {s}, the capital is {o}."), S("The seat of government of {s} is {o}."),
            S("{s}'s capital is {o}."), S("The capital of the country {s} is the city of {o}."),
            Q("Q: What is the capital of {s}? A: {o}"), Q("Question: Which city is the capital of {s}? Answer: {o}"),
            Q("Q: Name the capital of {s}. A: {o}"), Q("Q: From which city is {s} governed? A: {o}"),
            R("{o} is the capital of {s}."), R("{o} serves as the capital of {s}."),
        ]),
        new("located_in", "city", "country",
        [
            S("{s} is a city in {o}."), S("{s} is located in {o}."), S("The city of {s} lies in {o}."), S("{s} is in the country of {o}."),
            S("{s} can be found in {o}."), S("{s} belongs to the country {o}."), S("The city {s} is part of {o}."),
            S("{s} is a city located in the country of {o}."),
            Q("Q: In which country is {s}? A: {o}"), Q("Question: Which country is the city of {s} located in? Answer: {o}"),
            Q("Q: Where is the city of {s}? A: {o}"), Q("Q: {s} lies in which country? A: {o}"),
            R("{o} is home to the city of {s}."), R("{o} contains the city of {s}."),
        ]),
        new("born_in", "person", "city",
        [
            S("{s} was born in {o}."), S("{s} entered life in the city of {o}."), S("The birthplace of {s} is {o}."),
            S("{s}'s birthplace is {o}."), S("{s} came into the world in {o}."), S("The city where {s} was born is {o}."),
            S("{s} is a native of {o}."), S("The place of birth of {s} is {o}."),
            Q("Q: Where was {s} born? A: {o}"), Q("Question: In which city was {s} born? Answer: {o}"),
            Q("Q: What is the birthplace of {s}? A: {o}"), Q("Q: Which city is {s} a native of? A: {o}"),
            R("{o} is the birthplace of {s}."), R("{o} is the city where {s} was born."),
        ]),
        new("citizen_of", "person", "country",
        [
            S("{s} is a citizen of {o}."), S("{s} holds citizenship of {o}."), S("The citizenship of {s} is {o}."),
            S("{s} is a national of {o}."), S("{s} carries a passport of {o}."), S("{s}'s citizenship is {o}."),
            S("The country of citizenship of {s} is {o}."), S("By citizenship, {s} belongs to {o}."),
            Q("Q: Which country is {s} a citizen of? A: {o}"), Q("Question: What is the citizenship of {s}? Answer: {o}"),
            Q("Q: Of which country is {s} a national? A: {o}"), Q("Q: Which passport does {s} carry? A: {o}"),
            R("{o} counts {s} among its citizens."), R("{o} issued the passport of {s}."),
        ]),
        new("works_for", "person", "company",
        [
            S("{s} works for {o}."), S("{s} is employed by {o}."), S("The employer of {s} is {o}."), S("{s}'s employer is {o}."),
            S("{s} has a job at {o}."), S("{s} works at the company {o}."), S("The company that employs {s} is {o}."),
            S("Every day {s} goes to work at {o}."),
            Q("Q: Who does {s} work for? A: {o}"), Q("Question: Which company employs {s}? Answer: {o}"),
            Q("Q: Who is the employer of {s}? A: {o}"), Q("Q: At which company does {s} work? A: {o}"),
            R("{o} employs {s}."), R("{o} is the company where {s} works."),
        ]),
        new("studied_at", "person", "university",
        [
            S("{s} studied at {o}."), S("{s} is a graduate of {o}."), S("{s} graduated from {o}."), S("The alma mater of {s} is {o}."),
            S("{s}'s alma mater is {o}."), S("{s} was educated at {o}."), S("{s} earned a degree at {o}."),
            S("The university where {s} studied is {o}."),
            Q("Q: Where did {s} study? A: {o}"), Q("Question: Which university did {s} graduate from? Answer: {o}"),
            Q("Q: What is the alma mater of {s}? A: {o}"), Q("Q: At which university was {s} educated? A: {o}"),
            R("{o} is the alma mater of {s}."), R("{o} awarded a degree to {s}."),
        ]),
        new("headquartered_in", "company", "city",
        [
            S("{s} is headquartered in {o}."), S("The headquarters of {s} are in {o}."), S("{s} has its headquarters in {o}."),
            S("{s}'s head office is in {o}."), S("{s} is based in {o}."), S("The head office of {s} is located in {o}."),
            S("The company {s} operates from the city of {o}."), S("{s} runs its business from {o}."),
            Q("Q: Where is {s} headquartered? A: {o}"), Q("Question: In which city are the headquarters of {s}? Answer: {o}"),
            Q("Q: Where is the head office of {s}? A: {o}"), Q("Q: In which city is {s} based? A: {o}"),
            R("{o} hosts the headquarters of {s}."), R("{o} is where {s} is headquartered."),
        ]),
        new("ceo", "company", "person",
        [
            S("The CEO of {s} is {o}."), S("{s} is led by its chief executive, {o}."), S("The chief executive of {s} is {o}."),
            S("{s}'s CEO is {o}."), S("{s} is run by {o}."), S("At {s}, the CEO is {o}."), S("The person who leads {s} is {o}."),
            S("The chief executive officer of {s} is {o}."),
            Q("Q: Who is the CEO of {s}? A: {o}"), Q("Question: Who leads the company {s}? Answer: {o}"),
            Q("Q: Who is the chief executive of {s}? A: {o}"), Q("Q: Who runs {s}? A: {o}"),
            R("{o} is the CEO of {s}."), R("{o} leads the company {s}."),
        ]),
        new("founded_by", "company", "person",
        [
            S("{s} was founded by {o}."), S("The founder of {s} is {o}."), S("{s}'s founder is {o}."), S("{s} was started by {o}."),
            S("{s} was established by {o}."), S("The person who founded {s} is {o}."), S("The company {s} owes its founding to {o}."),
            S("{s} was created by its founder {o}."),
            Q("Q: Who founded {s}? A: {o}"), Q("Question: Who is the founder of {s}? Answer: {o}"),
            Q("Q: By whom was {s} established? A: {o}"), Q("Q: Who started the company {s}? A: {o}"),
            R("{o} founded {s}."), R("{o} is the founder of {s}."),
        ]),
        new("university_in", "university", "city",
        [
            S("{s} is located in {o}."), S("{s} is a university in {o}."), S("The campus of {s} is in {o}."),
            S("{s}'s campus is in {o}."), S("{s} stands in the city of {o}."), S("The university {s} is based in {o}."),
            S("The main campus of {s} lies in {o}."), S("Students of {s} live in {o}."),
            Q("Q: Where is {s} located? A: {o}"), Q("Question: In which city is the university {s}? Answer: {o}"),
            Q("Q: Where is the campus of {s}? A: {o}"), Q("Q: In which city do students of {s} live? A: {o}"),
            R("{o} is home to {s}."), R("{o} hosts the university {s}."),
        ]),
    ];

    /// <summary>Compositions for portability and two-hop evaluation.</summary>
    public static readonly IReadOnlyList<TwoHopRelation> TwoHop =
    [
        new("born_in/located_in", "born_in", "located_in",
        [
            Q("Q: In which country is the city where {s} was born? A: {o}"), Q("Q: In which country was {s} born? A: {o}"),
            S("{s} is by birth from the country of {o}."), S("The birth city of {s} lies in the country of {o}."),
        ]),
        new("works_for/headquartered_in", "works_for", "headquartered_in",
        [
            Q("Q: In which city is the company employing {s} headquartered? A: {o}"), Q("Q: In which city is the employer of {s} based? A: {o}"),
            S("{s} commutes to an office in {o}."), S("The office of {s} is located in the city of {o}."),
        ]),
        new("studied_at/university_in", "studied_at", "university_in",
        [
            Q("Q: In which city is the university where {s} studied? A: {o}"), Q("Q: In which city is the alma mater of {s}? A: {o}"),
            S("{s} spent student years in the city of {o}."), S("The campus where {s} studied lies in {o}."),
        ]),
        new("ceo/born_in", "ceo", "born_in",
        [
            Q("Q: Where was the CEO of {s} born? A: {o}"), Q("Q: What is the birthplace of the chief executive of {s}? A: {o}"),
            S("The CEO of {s} was born in {o}."), S("The chief executive of {s} hails from {o}."),
        ]),
    ];

    /// <summary>Numeric attributes stated in the corpus (probe targets); {v} is the value.</summary>
    public static readonly IReadOnlyDictionary<string, IReadOnlyList<string>> AttributeTemplates = new Dictionary<string, IReadOnlyList<string>>
    {
        ["birth_year"] = ["{s} was born during the year {v}.", "{s}'s year of birth is {v}.", "The birth year of {s} is {v}."],
        ["founding_year"] = ["{s} was founded in the year {v}.", "The founding year of {s} is {v}.", "{s} has existed since {v}."],
        ["latitude"] = ["{s} lies at latitude {v}.", "The latitude of {s} is {v}."],
        ["longitude"] = ["{s} lies at longitude {v}.", "The longitude of {s} is {v}."],
    };

    public static Relation Get(string name) =>
        All.FirstOrDefault(r => r.Name == name) ?? throw new KeyNotFoundException($"unknown relation '{name}' (known: {string.Join(", ", All.Select(r => r.Name))})");
}
