using Evolution.Agents.Population;

namespace Evolution.Agents.Recording;

/// <summary>A spread's finished steps in the run database, one document per step written in one transaction.</summary>
/// <param name="placements">Where the bases computed the step (<see cref="BaseActors.TakePlacements"/>), stored with it; null: nowhere to say.</param>
public sealed class SpreadLog(RunDatabase database, int scenarioStep, Func<IReadOnlyList<string>>? placements = null) : ISpreadLog
{
    public IReadOnlyList<SpreadRound> Rounds() =>
        database.SpreadRounds.Find(e => e.ScenarioStep == scenarioStep).OrderBy(e => e.Step)
            .Select((e, i) => e.Step == i ? ToRound(e) : throw new Core.InputException(database.Path, "spread_rounds", $"the spread of step {scenarioStep} lacks its step {i}"))
            .ToList();

    /// <summary>The mechanism records of the finished steps (<see cref="SpreadRound.Traces"/>), in step order.</summary>
    public IReadOnlyList<SpreadTraceEvent> Traces() =>
        database.SpreadTraces.Find(e => e.ScenarioStep == scenarioStep).OrderBy(e => e.Step).ThenBy(e => e.Id, StringComparer.Ordinal).ToList();

    /// <summary>The agents of a stored record.</summary>
    public static int[] AgentsOf(SpreadTraceEvent e) => Unpack(e.Agents);

    public void Write(SpreadRound round) => database.Atomically(() =>
    {
        database.SpreadRounds.Upsert(new SpreadRoundEvent
        {
            Id = $"{scenarioStep}/{round.Step}", ScenarioStep = scenarioStep, Step = round.Step,
            Stated = round.Facts.Select(f => Pack(f.Stated)).ToList(),
            Own = round.Facts.Select(f => Pack(f.Own)).ToList(),
            ReadPeers = round.Facts.Select(f => f.ReadPeers.Select(b => b ? (byte)1 : (byte)0).ToArray()).ToList(),
            Committed = round.Facts.Select(f => Pack(f.Committed)).ToList(),
            Nodes = [.. placements?.Invoke() ?? []],
        });
        // Zero-padded ids keep a step's records in the order they were written.
        database.SpreadTraces.Upsert((round.Traces ?? []).Select((t, k) => new SpreadTraceEvent
        {
            Id = $"{scenarioStep}/{round.Step}/{k:D6}", ScenarioStep = scenarioStep, Step = round.Step, Fact = t.Fact,
            Agents = Pack([.. t.Agents]), Trace = PeerTraceRecord.Of(t.Trace)!,
        }));
    });

    static SpreadRound ToRound(SpreadRoundEvent e) =>
        new(e.Step, e.Stated.Select((_, f) => new SpreadFactRound(Unpack(e.Stated[f]), Unpack(e.Own[f]), e.ReadPeers[f].Select(b => b != 0).ToArray(), Unpack(e.Committed[f]))).ToList());

    static byte[] Pack(int[] values)
    {
        var bytes = new byte[values.Length * sizeof(int)];
        for (int i = 0; i < values.Length; i++) System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(i * sizeof(int)), values[i]);
        return bytes;
    }

    static int[] Unpack(byte[] bytes)
    {
        var values = new int[bytes.Length / sizeof(int)];
        for (int i = 0; i < values.Length; i++) values[i] = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(i * sizeof(int)));
        return values;
    }
}
