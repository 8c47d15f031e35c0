using System.Diagnostics.Tracing;
using Evolution.Core.Agents;
using Evolution.Core.Worlds;
using Evolution.Mechanisms.Circuits;
using Evolution.Updates;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

/// <summary>
/// No TorchSharp Scalar may be left to its finalizer on the paths that run most tensor ops: training,
/// a ROME edit, activation patching, causal tracing and edge patching. TorchSharp 0.107 hands a Scalar to
/// libtorch as a bare handle, so an implicit one (<c>t * 0.5</c>, <c>a + b</c>'s alpha of 1) can be freed
/// mid-op ("Expected false to be true" in c10::Scalar::toFloat). Two checks: while the work runs, another
/// thread collects garbage and runs finalizers without pause (turns the rare crash into a likely one), and
/// the runtime's FinalizeObject events must show no Scalar finalized at all (catches an implicit Scalar
/// every time, crash or not).
/// </summary>
public class ScalarLifetimeStressTests(ITestOutputHelper output)
{
    /// <summary>Records the method-table pointers of finalized objects (runtime event FinalizeObject, GC keyword, verbose).</summary>
    sealed class FinalizerListener : EventListener
    {
        readonly object gate = new();
        readonly Dictionary<ulong, int> finalized = [];

        protected override void OnEventSourceCreated(EventSource source)
        {
            if (source.Name == "Microsoft-Windows-DotNETRuntime")
                EnableEvents(source, EventLevel.Verbose, (EventKeywords)0x1);
        }

        protected override void OnEventWritten(EventWrittenEventArgs e)
        {
            if (e.EventName != "FinalizeObject" || e.PayloadNames is null) return;
            var type = e.Payload![e.PayloadNames.IndexOf("TypeID")] switch { IntPtr p => (ulong)p, var o => Convert.ToUInt64(o) };
            lock (gate) finalized[type] = finalized.GetValueOrDefault(type) + 1;
        }

        public int Count(Type type)
        {
            lock (gate) return finalized.GetValueOrDefault((ulong)type.TypeHandle.Value);
        }
    }

    /// <summary>Finalized last: once its event has arrived, the events finalized before it have too.</summary>
    sealed class Sentinel
    {
        ~Sentinel() { }
    }

    [Fact]
    public void TrainingRomeAndPatchingLeaveNoScalarToTheFinalizer()
    {
        using var listener = new FinalizerListener();
        using var stop = new CancellationTokenSource();
        int collections = 0;
        var collector = new Thread(() =>
        {
            // Mostly gen-0 collections: a temporary Scalar is young, and a full collection each time
            // would stall the work far longer (the test must stay short).
            while (!stop.IsCancellationRequested)
            {
                if (collections % 20 == 0) GC.Collect(); else GC.Collect(0, GCCollectionMode.Forced, blocking: true);
                GC.WaitForPendingFinalizers();
                collections++;
            }
        }) { IsBackground = true };
        collector.Start();
        var clock = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            Work(phase => output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {phase}"));
        }
        finally
        {
            stop.Cancel();
            collector.Join();
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        MakeSentinel();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (listener.Count(typeof(Sentinel)) == 0 && waited.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(20);

        output.WriteLine($"{collections} collections; finalized: {listener.Count(typeof(Scalar))} Scalars, {listener.Count(typeof(Tensor))} Tensors");
        Assert.True(listener.Count(typeof(Sentinel)) > 0, "the runtime's FinalizeObject events never arrived, so the check below means nothing");
        Assert.True(collections > 10, $"the collector thread ran only {collections} collections");
        Assert.Equal(0, listener.Count(typeof(Scalar)));
    }

    static void MakeSentinel() => _ = new Sentinel();

    static void Work(Action<string> done)
    {
        var cache = Directory.CreateTempSubdirectory("evolution-scalars").FullName;
        try
        {
            var profile = Path.Combine(cache, "stress.yaml");
            File.WriteAllText(profile, """
                name: scalar-stress
                model: {layers: 2, d_model: 32, heads: 2, context: 64}
                training: {seed: 2, steps: 8, batch_size: 4, learning_rate: 0.003, warmup_steps: 5, eval_every: 0}
                """);
            var root = new DirectoryInfo(AppContext.BaseDirectory);
            while (!File.Exists(Path.Combine(root.FullName, "Evolution.sln"))) root = root.Parent!;
            var agent = AgentTraining.TrainOrLoad(Path.Combine(root.FullName, "scenarios", "worlds", "tiny.yaml"), profile, cache, CPU);
            var (model, tokenizer, world) = (agent.Model, agent.Tokenizer, agent.World);
            done("trained");

            var corpus = CorpusBuilder.Build(world, agent.Profile.Data, 1).Documents;
            var editor = new RomeEditor(new RomeHyperParams(Layer: 0, Steps: 10), new KeyStatistics(corpus, maxTexts: 40), corpus);
            var person = world.OfType("person")[0];
            var relation = RelationCatalogue.Get("works_for");
            int old = world.ObjectOf(person.Id, "works_for", 0);
            var request = new EditRequest(world.CanonicalStatement(relation).Prompt(person.Name), person.Name, world[world.OfType("company").First(c => c.Id != old).Id].Name);
            using (var delta = editor.ComputeDelta(model, tokenizer, [request]))
            {
                delta.Apply(model);
                delta.Revert(model);
            }
            done("ROME edit");

            using var _ = no_grad();
            int[] clean = [0, 5, 6, 9, 12, 4], corrupted = [0, 17, 18, 9, 12, 4];
            for (int repeat = 0; repeat < 3; repeat++)
            {
                using var scope = NewDisposeScope();
                ActivationPatching.Run(model, tensor(clean.Select(t => (long)t).ToArray()).unsqueeze(0), tensor(corrupted.Select(t => (long)t).ToArray()).unsqueeze(0),
                    [[], [new Patch("blocks.0.hook_resid_pre", 1)], [new Patch("blocks.1.hook_mlp_out")]]);
                CausalTracing.Trace(model, new FactPrompt("stress", clean, 1, 3, "t", 7), TraceKind.Mlp, new CausalTraceOptions(Samples: 3));

                var g = ComputationGraph.For(model);
                var examples = Enumerable.Range(0, 3).Select(i =>
                    new CircuitExample(new FactPrompt("stress", [0, 5 + i, 6, 9, 12, 4], 1, 3, "t", 7), [0, 17 + i, 18, 9, 12, 4], [8], [7, 8, 10])).ToList();
                using var batch = CircuitBatch.Build(model, examples, new CircuitOptions(), 0);
                var reference = EdgePatching.UpstreamOutputs(model, batch.Tokens, batch.Corruption(ones(3)));
                EdgePatching.Run(model, batch.Tokens, g.ValidMask().expand(3, -1, -1), reference);
                EdgePatching.Run(model, batch.Tokens, zeros(3, g.UpstreamCount, g.DownstreamCount), reference);
                done("patching");
            }
        }
        finally
        {
            Directory.Delete(cache, recursive: true);
        }
    }
}
