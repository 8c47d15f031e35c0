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
        Updates.EnsureIndex(u => u.Agent);
    }

    public ILiteCollection<AnswerEvent> Answers => db.GetCollection<AnswerEvent>("answers");
    public ILiteCollection<UpdateEvent> Updates => db.GetCollection<UpdateEvent>("updates");
    public ILiteCollection<TraceEvent> Traces => db.GetCollection<TraceEvent>("traces");
    public ILiteCollection<StepEvent> Steps => db.GetCollection<StepEvent>("steps");
    public ILiteCollection<HomeEvent> Homes => db.GetCollection<HomeEvent>("homes");
    public ILiteCollection<SpreadRoundEvent> SpreadRounds => db.GetCollection<SpreadRoundEvent>("spread_rounds");
    public ILiteCollection<SpreadTraceEvent> SpreadTraces => db.GetCollection<SpreadTraceEvent>("spread_traces");
    ILiteCollection<RunInfo> Runs => db.GetCollection<RunInfo>("run");

    public RunInfo? Info => Runs.FindById("run");

    public void Save(RunInfo info) => Runs.Upsert(info);

    public void Write(AnswerEvent e) => Answers.Upsert(e);
    public void Write(UpdateEvent e) => Updates.Upsert(e);
    public void Write(TraceEvent e) => Traces.Upsert(e);
    public void Write(StepEvent e) => Steps.Upsert(e);
    public void Write(HomeEvent e) => Homes.Upsert(e);

    public AnswerEvent? FindAnswer(string id) => Answers.FindById(id);

    /// <summary>
    /// Everything <paramref name="agent"/> took in, in the order it did (by step; one request per agent and step): what an agent
    /// rebuilt on any node replays (<see cref="RestoreLearned"/>). Updates recorded without their request (older runs) are left out.
    /// </summary>
    public RestoreLearned History(string agent)
    {
        var updates = Updates.Find(u => u.Agent == agent).Where(u => u.Key != "").OrderBy(u => u.Step).ThenBy(u => u.Id, StringComparer.Ordinal).ToList();
        return new RestoreLearned([.. updates.Select(u => u.Request)], [.. updates.Select(u => u.Outcome)]);
    }

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
