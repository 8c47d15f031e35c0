using Evolution.Core;
using Evolution.Core.Model;
using static TorchSharp.torch;

namespace Evolution.Updates.Tests;

[Collection(TinyAgentCollection.Name)]
public class EditorFactoryTests(TinyAgent tiny)
{
    static readonly GptConfig TwoLayers = new() { VocabSize = 10, ContextLength = 16, DModel = 8, NLayers = 2, NHeads = 2 };

    [Fact]
    public void FineTuningLeavesFrozenParametersFrozen()
    {
        var (model, world) = (tiny.Agent.Model, tiny.Agent.World);
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var frozen = new[] { parameters.Keys.First(), "blocks.0.mlp.c_proj.weight" }; // neither is FT-L's; FT edits both
        var request = EditEvaluation.RequestFor(world, WorldChanges.Select(world, 0, 1)[0]);
        try
        {
            foreach (var n in frozen) parameters[n].requires_grad = false;
            foreach (var (editor, edited) in new[] { (new FineTuningEditor(new FtLHyperParams(Steps: 3)), "blocks.1.mlp.c_proj.weight"), (new FineTuningEditor(new FtHyperParams(Steps: 3)), frozen[1]) })
            {
                using var delta = editor.ComputeDelta(model, tiny.Agent.Tokenizer, [request]);
                Assert.True(delta.Delta[edited].abs().max().item<float>() > 0, $"{editor.Name} must edit {edited}, whether or not its caller froze it");
                foreach (var (name, p) in parameters)
                    Assert.True(p.requires_grad == !frozen.Contains(name), $"{editor.Name}: {name} requires_grad {p.requires_grad} after the edit");
            }
        }
        finally
        {
            foreach (var n in frozen) parameters[n].requires_grad = true;
        }
    }

    [Fact]
    public void EachMethodsDefaultsAreTheDocumentedOnes()
    {
        // README, "Update channels compared" (FT-L and FT measured with lr 5e-3, ε 0.02, 25 steps); ROME's lr 0.5 is the paper's.
        var ftL = Assert.IsType<FtLHyperParams>(KnowledgeEditors.HyperParams("ft-l", TwoLayers));
        Assert.Equal((25, 5e-3, 0.02), (ftL.Steps, ftL.LearningRate, ftL.NormConstraint));
        Assert.Equal([1], ftL.LayersFor(TwoLayers));
        var ft = Assert.IsType<FtHyperParams>(KnowledgeEditors.HyperParams("ft", TwoLayers));
        Assert.Equal((25, 5e-3), (ft.Steps, ft.LearningRate));
        Assert.Equal(0.5, Assert.IsType<RomeHyperParams>(KnowledgeEditors.HyperParams("rome", TwoLayers)).LearningRate);
        Assert.IsType<MemitHyperParams>(KnowledgeEditors.HyperParams("memit", TwoLayers));
        // AlphaEdit finds targets with MEMIT's settings; the paper's ridge α is 1.
        var alpha = Assert.IsType<AlphaEditHyperParams>(KnowledgeEditors.HyperParams("alphaedit", TwoLayers));
        Assert.Equal(new MemitHyperParams(), alpha.Targets);
        Assert.Equal(1.0, alpha.Ridge);
        Assert.IsType<AlphaEditEditor>(KnowledgeEditors.Create("alphaedit", TwoLayers, new EditorCorpus(() => [])));
    }

    [Fact]
    public void OverridesChangeOnlyTheirValueAndMistakesNameTheOption()
    {
        var rome = Assert.IsType<RomeHyperParams>(KnowledgeEditors.HyperParams("rome", TwoLayers, new EditorOverrides { Layer = 1, LearningRate = 0.1 }));
        Assert.Equal(new RomeHyperParams() with { Layer = 1, LearningRate = 0.1 }, rome);
        var memit = Assert.IsType<MemitHyperParams>(KnowledgeEditors.HyperParams("memit", TwoLayers, new EditorOverrides { Layers = [0, 1, 1] }));
        Assert.Equal([0, 1], memit.Layers);

        string Option(string method, EditorOverrides o) => Assert.Throws<InputException>(() => KnowledgeEditors.HyperParams(method, TwoLayers, o)).Field!;
        Assert.Equal("--layer", Option("rome", new EditorOverrides { Layer = 2 }));
        Assert.Equal("--layer", Option("ft-l", new EditorOverrides { Layer = 0 }));
        Assert.Equal("--layers", Option("memit", new EditorOverrides { Layers = [3] }));
        Assert.Equal("--norm-constraint", Option("ft", new EditorOverrides { NormConstraint = 0.1 }));
        Assert.Equal("--norm-constraint", Option("ft-l", new EditorOverrides { NormConstraint = 0 }));
        Assert.Equal("--covariance-weight", Option("rome", new EditorOverrides { CovarianceWeight = 10 }));
        Assert.Equal("--weight-decay", Option("memit", new EditorOverrides { WeightDecay = -1 }));
        Assert.Equal("--position", Option("ft-l", new EditorOverrides { Position = EditPosition.PromptLast }));
        Assert.Equal("--learning-rate", Option("ft", new EditorOverrides { LearningRate = 0 }));
        Assert.Equal("--null-space-threshold", Option("memit", new EditorOverrides { NullSpaceThreshold = 0.1 }));
        Assert.Equal("--null-space-threshold", Option("alphaedit", new EditorOverrides { NullSpaceThreshold = 0 }));
        Assert.Equal("--ridge", Option("rome", new EditorOverrides { Ridge = 1 }));
        Assert.Equal("--key-prompts", Option("memit", new EditorOverrides { Keys = KeyPrompts.Fact }));
        Assert.Equal("--layers", Option("alphaedit", new EditorOverrides { Layers = [2] }));
        var alpha = Assert.IsType<AlphaEditHyperParams>(KnowledgeEditors.HyperParams("alphaedit", TwoLayers, new EditorOverrides { Layers = [0, 0], NullSpaceThreshold = 0.05, Keys = KeyPrompts.Fact, CovarianceWeight = 30 }));
        Assert.Equal([0], alpha.Layers);
        Assert.Equal(new AlphaEditHyperParams() with { NullSpaceThreshold = 0.05, Layers = alpha.Layers, Keys = KeyPrompts.Fact, CovarianceWeight = 30 }, alpha);
        Assert.Equal("--covariance-weight", Option("alphaedit", new EditorOverrides { CovarianceWeight = 0 }));
        Assert.Equal("--method", Option("grace", new EditorOverrides()));
    }
}
