using static TorchSharp.torch;

namespace Evolution.Core.Model;

/// <summary>
/// How the tokens of a batch sit, for inputs that are not each one plain causal sequence (null everywhere means the plain
/// case: positions 0..T−1 and causal attention). Lets one row hold several sequences that share a prefix, e.g. a prompt
/// followed by all its candidate continuations, each continuing at the prompt's end and seeing only the prompt and itself
/// (tree attention): every token then has the same position and attends to the same keys as in its own sequence, so its
/// activations are those of the unpacked forward, while the prefix is computed once.
/// </summary>
/// <param name="Positions">Position id of each token, [batch, pos] long; its largest value must be below the context length.</param>
/// <param name="AttendMask">Which keys each query may attend to, [batch, 1, query, key] bool (true: attends), the same for
/// every head. Every query must attend to at least one key (a row of false would softmax to NaN, which then reaches every
/// query through the values).</param>
public sealed record SequenceLayout(Tensor Positions, Tensor AttendMask);
