using LiteDB;

namespace Evolution.Agents.Recording;

/// <summary>
/// A run's database (results/&lt;run&gt;/run.db, LiteDB): every answer, update, trace and finished
/// step. LiteDB writes each insert in a journaled transaction, so a run killed at any point reopens
/// with every event written before the kill. One <see cref="RecorderActor"/> writes; readers
/// (memoisation on resume, metrics, the report) read.
/// </summary>
public sealed class RunDatabase : IDisposable
{
    public const string FileName = "run.db";
    readonly LiteDatabase db;

    public string Path { get; }

    public RunDatabase(string path)
    {
        Path = path;
        try
        {
            db = new LiteDatabase(new ConnectionString { Filename = path, Connection = ConnectionType.Direct });
            db.GetCollection<RunInfo>("run").Count(); // touch the file so a corrupt one fails here, named
        }
        catch (Exception e) when (e is LiteException or InvalidCastException or IOException)
        {
            throw new Core.InputException(path, null, $"not a readable run database: {e.Message}");
        }
        Answers.EnsureIndex(a => a.Step);
    }

    public ILiteCollection<AnswerEvent> Answers => db.GetCollection<AnswerEvent>("answers");
    public ILiteCollection<UpdateEvent> Updates => db.GetCollection<UpdateEvent>("updates");
    public ILiteCollection<TraceEvent> Traces => db.GetCollection<TraceEvent>("traces");
    public ILiteCollection<StepEvent> Steps => db.GetCollection<StepEvent>("steps");
    public ILiteCollection<SpreadRoundEvent> SpreadRounds => db.GetCollection<SpreadRoundEvent>("spread_rounds");
    public ILiteCollection<SpreadTraceEvent> SpreadTraces => db.GetCollection<SpreadTraceEvent>("spread_traces");
    ILiteCollection<RunInfo> Runs => db.GetCollection<RunInfo>("run");

    public RunInfo? Info => Runs.FindById("run");

    public void Save(RunInfo info) => Runs.Upsert(info);

    public void Write(AnswerEvent e) => Answers.Upsert(e);
    public void Write(UpdateEvent e) => Updates.Upsert(e);
    public void Write(TraceEvent e) => Traces.Upsert(e);
    public void Write(StepEvent e) => Steps.Upsert(e);

    public AnswerEvent? FindAnswer(string id) => Answers.FindById(id);

    public bool StepDone(int step) => Steps.FindById($"step/{step}") is not null;

    public void Checkpoint() => db.Checkpoint();

    /// <summary>Runs <paramref name="write"/> in one transaction: after a kill, all of its writes are there or none.</summary>
    public void Atomically(Action write)
    {
        db.BeginTrans();
        try
        {
            write();
            db.Commit();
        }
        catch
        {
            db.Rollback();
            throw;
        }
    }

    public void Dispose() => db.Dispose();
}
