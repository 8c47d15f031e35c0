using Evolution.Core.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms.Tests;

/// <summary>Models whose mechanism is known because it was put there by hand.</summary>
public static class HandBuiltModels
{
    public const int Subject = 3, Target = 7;

    /// <summary>
    /// A 3-layer model whose only working part is neuron 0 of layer 1's MLP: it fires on the
    /// subject token's (normalised) embedding and writes the target token's unembedding direction.
    /// Attention writes nothing, MLPs 0 and 2 write nothing. Prompt: [&lt;eot&gt;, subject]; the answer
    /// is read at the subject position itself.
    /// </summary>
    public static Gpt KnowledgeInMlp1()
    {
        var config = new GptConfig { VocabSize = 12, ContextLength = 8, DModel = 16, NLayers = 3, NHeads = 2 };
        var model = new Gpt(config, initSeed: 5);
        using var _ = no_grad();
        using var fifty = 50.ToScalar();
        using var minusTen = (-10).ToScalar();
        using var twenty = 20.ToScalar();
        model.TokenEmbedding.weight!.mul_(fifty); // std 1: a tied unembedding strong enough for a confident answer
        model.PositionEmbedding.weight!.zero_();
        foreach (var block in model.Blocks)
        {
            block.Attn.OutputProjection.weight!.zero_();
            block.Attn.OutputProjection.bias!.zero_();
            block.Mlp.Out.weight!.zero_();
            block.Mlp.Out.bias!.zero_();
        }
        var embedding = model.TokenEmbedding.weight![Subject];
        var normalized = nn.functional.layer_norm(embedding, [config.DModel]);
        var mlp = model.Blocks[1].Mlp;
        mlp.In.weight!.zero_();
        mlp.In.bias!.fill_(minusTen); // every neuron off ...
        mlp.In.weight![0] = normalized / normalized.norm();
        mlp.In.bias![0] = -0.5 * normalized.norm().item<float>(); // ... but neuron 0 on the subject
        var target = model.TokenEmbedding.weight![Target];
        mlp.Out.weight![TensorIndex.Colon, 0] = target.mul(twenty) / target.norm();
        return model;
    }

    public const int Relation = 9;

    /// <summary>
    /// A 1-layer model whose only working part is head 0: from every position it attends to the
    /// subject token (its key matches the subject's normalised embedding, its query is a constant
    /// bias), reads the subject through its value and writes the target's unembedding direction.
    /// Prompt: [&lt;eot&gt;, subject, relation]; the answer is read at the relation token. A mover head by construction.
    /// </summary>
    public static Gpt MoverHead()
    {
        var config = new GptConfig { VocabSize = 12, ContextLength = 8, DModel = 16, NLayers = 1, NHeads = 2 };
        var model = new Gpt(config, initSeed: 6);
        using var _ = no_grad();
        using var fifty = 50.ToScalar();
        using var ten = 10.ToScalar();
        model.TokenEmbedding.weight!.mul_(fifty);
        model.PositionEmbedding.weight!.zero_();
        var block = model.Blocks[0];
        block.Mlp.Out.weight!.zero_();
        block.Mlp.Out.bias!.zero_();
        var qkv = block.Attn.QkvProjection;
        qkv.weight!.zero_();
        qkv.bias!.zero_();
        var subject = nn.functional.layer_norm(model.TokenEmbedding.weight![Subject], [config.DModel]);
        var direction = subject / subject.norm();
        int d = config.DModel;
        qkv.bias![0] = 10;                  // head 0's query: constant
        qkv.weight![d] = direction.mul(ten);    // head 0's key: large on the subject only
        qkv.weight![2 * d] = direction;     // head 0's value: the subject's presence
        var output = block.Attn.OutputProjection;
        output.weight!.zero_();
        output.bias!.zero_();
        var target = model.TokenEmbedding.weight![Target];
        output.weight![TensorIndex.Colon, 0] = target.mul(ten) / target.norm(); // value dim 0 of head 0 → the target direction
        return model;
    }
}
