using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Akka.Actor;
using Akka.Serialization;

namespace Evolution.Agents.Cluster;

/// <summary>
/// How every message that crosses nodes is written: JSON (System.Text.Json) of the immutable message records, the record's
/// short name as the manifest. Bound explicitly to each type in <see cref="Messages"/> (<see cref="ClusterNode.Config"/>), so
/// nothing falls back to Akka's default serializer; a type missing from the list fails loudly rather than silently.
/// </summary>
public sealed class WireSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>The messages between the moderator, the recorder and agents, and between a population and its bases, that may live on other nodes.</summary>
    public static readonly IReadOnlyList<Type> Messages =
    [
        typeof(AskAgent), typeof(AgentAnswered), typeof(LearnNews), typeof(NewsLearned), typeof(RestoreLearned), typeof(ReadHistory), typeof(AgentHomed), typeof(ReachAgent), typeof(AgentReached), typeof(TakeSnapshot), typeof(SnapshotTaken),
        typeof(TraceCircuits), typeof(CircuitsTraced), typeof(FindConformityHeads), typeof(ConformityHeadsFound),
        typeof(FailNextMessage), typeof(FaultArmed),
        typeof(Population.ScoreOnBase), typeof(Population.ScoredOnBase), typeof(Population.AnalyzeOnBase), typeof(Population.AnalyzedOnBase),
        typeof(Population.FindCircuitOnBase), typeof(Population.FoundCircuitOnBase),
        typeof(ListCheckpoint), typeof(CheckpointListed), typeof(ReadCheckpoint), typeof(CheckpointRead),
    ];

    static readonly Dictionary<string, Type> ByName = Messages.ToDictionary(t => t.Name);

    static readonly JsonSerializerOptions Options = new()
    {
        IncludeFields = true, // the (Hook, Features) tuples of snapshots
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals, // NaN scores
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>Akka's id of this serializer (ids up to 100 are Akka's own).</summary>
    public override int Identifier => 4711;

    public override string Manifest(object o) => o.GetType().Name;

    public override byte[] ToBinary(object obj) =>
        ByName.ContainsKey(obj.GetType().Name) ? JsonSerializer.SerializeToUtf8Bytes(obj, obj.GetType(), Options)
            : throw new ArgumentException($"{obj.GetType().FullName} is not a wire message (add it to WireSerializer.Messages)");

    public override object FromBinary(byte[] bytes, string manifest) =>
        ByName.TryGetValue(manifest, out var type) ? JsonSerializer.Deserialize(bytes, type, Options)!
            : throw new SerializationException($"unknown wire message '{manifest}': was the other node built from different code?");
}
