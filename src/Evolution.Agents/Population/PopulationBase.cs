using Evolution.Agents.Protocols;
using Evolution.Core.Agents;
using Evolution.Core.Model;
using Evolution.Core.Text;
using Evolution.Core.Worlds;
using Evolution.Updates;
using Evolution.Updates.Population;

namespace Evolution.Agents.Population;

/// <summary>One fact an agent committed to its weights: the object it now believes and the method it wrote it with.</summary>
public readonly record struct Commit(FactRef Fact, string Object);

/// <summary>
/// A trained base (profile × seed) that many agents share, with what they all take from it: its model answering their
/// questions in batches, each row with its own agent's delta (<see cref="SharedBase"/>); how they read a question
/// (<see cref="AgentReading"/>); and their edits. An edit is computed once per fact, object and method on the base and
/// shared by reference by every agent that commits it; an agent with several edits adds them up (ΔW₁ + ΔW₂, as
/// independent edits superpose in MEMIT's batched update, Meng et al. 2023) instead of computing each on the weights
/// the previous one left, which would make every agent's history its own edit and cost one ROME solve per agent.
/// </summary>
public sealed class PopulationBase : IDisposable
{
    readonly EditorCorpus corpus;
    readonly Dictionary<(FactRef Fact, string Object, string Method), AgentDelta> edits = [];
    readonly Dictionary<string, AgentDelta> combined = [];

    public PopulationBase(string name, TrainedAgent trained)
    {
        Name = name;
        (Model, Tokenizer, World, Profile) = (trained.Model, trained.Tokenizer, trained.World, trained.Profile);
        Answers = new SharedBase(Model, Tokenizer);
        Reading = new AgentReading(World, Tokenizer, Profile, Model.Config.ContextLength);
        corpus = EditorCorpus.Of(World, Profile.Data, Profile.Training.Seed);
    }

    public string Name { get; }
    public Gpt Model { get; }
    public ITextTokenizer Tokenizer { get; }
    public World World { get; }
    public AgentProfile Profile { get; }
    public SharedBase Answers { get; }
    public AgentReading Reading { get; }

    /// <summary>Edits computed so far (each once per fact, object and method).</summary>
    public int EditsComputed => edits.Count;

    /// <summary>Bytes of every distinct delta held (edits and the sums agents share).</summary>
    public long DeltaBytes => edits.Values.Concat(combined.Values).Sum(d => d.Bytes);

    /// <summary>
    /// The delta of an agent whose weights hold <paramref name="commits"/> (written with <paramref name="method"/>; any
    /// order), null for none; agents with the same commits share one instance.
    /// </summary>
    public AgentDelta? DeltaOf(string method, IReadOnlyCollection<Commit> commits)
    {
        if (commits.Count == 0) return null;
        var ordered = commits.OrderBy(c => c.Fact.Subject).ThenBy(c => c.Fact.Relation, StringComparer.Ordinal).ToList();
        var key = KeyOf(method, ordered);
        if (combined.TryGetValue(key, out var delta)) return delta;
        delta = Edit(method, ordered[0]);
        if (ordered.Count > 1)
        {
            var sum = delta.Then(Edit(method, ordered[1])); // a new instance: the edits stay cached as they are
            foreach (var commit in ordered.Skip(2))
            {
                var next = sum.Then(Edit(method, commit));
                sum.Dispose();
                sum = next;
            }
            delta = sum;
        }
        combined[key] = delta;
        return delta;
    }

    /// <summary>The canonical name of a parametric state: the method and its commits in fact order.</summary>
    public static string KeyOf(string method, IEnumerable<Commit> ordered) =>
        method + ":" + string.Join("|", ordered.Select(c => $"{c.Fact}={c.Object}"));

    AgentDelta Edit(string method, Commit commit)
    {
        if (edits.TryGetValue((commit.Fact, commit.Object, method), out var delta)) return delta;
        var target = World.FindByName(commit.Object.Trim()) ?? throw new ArgumentException($"'{commit.Object}' is no entity of the world");
        var change = new FactChange(0, commit.Fact.Subject, commit.Fact.Relation, World.ObjectOf(commit.Fact.Subject, commit.Fact.Relation, 0), target.Id);
        using var weights = KnowledgeEditors.Create(method, Model.Config, corpus).ComputeDelta(Model, Tokenizer, [EditEvaluation.RequestFor(World, change)]);
        return edits[(commit.Fact, commit.Object, method)] = AgentDelta.From(weights);
    }

    public void Dispose()
    {
        foreach (var d in combined.Values.Concat(edits.Values).Distinct()) d.Dispose();
        Model.Dispose();
    }
}
