using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Core;

/// <summary>
/// Explicit TorchSharp Scalars. TorchSharp 0.107 hands a <see cref="Scalar"/> to libtorch as its bare
/// native handle, so a Scalar that nothing references during the call (one made implicitly from a number,
/// or by TorchSharp for a default argument) can be freed by its finalizer while libtorch reads it
/// ("Expected false to be true" from <c>c10::Scalar::toFloat</c>). Those APIs are banned (BannedSymbols.txt);
/// code uses these cached values, or <c>using var s = x.ToScalar();</c> for other numbers.
/// </summary>
/// <remarks>
/// The fields are static roots, never collected, so never finalized; nothing may dispose them. Integers
/// are integer Scalars (as TorchSharp's own implicit ones were), so they keep an integer tensor's dtype.
/// </remarks>
public static class Scalars
{
    public static readonly Scalar Zero = 0.ToScalar();
    public static readonly Scalar One = 1.ToScalar();
    public static readonly Scalar MinusOne = (-1).ToScalar();
    public static readonly Scalar Two = 2.ToScalar();
    public static readonly Scalar Half = 0.5.ToScalar();

    /// <summary>
    /// The tensor's single value as a float, converted as TorchSharp's <c>ToSingle()</c> does, with the
    /// temporary Scalar kept alive until the native read has returned.
    /// </summary>
    public static float ReadSingle(this Tensor tensor)
    {
        using var value = tensor.ToScalar();
        return value.ToSingle();
    }

    /// <inheritdoc cref="ReadSingle"/>
    public static double ReadDouble(this Tensor tensor)
    {
        using var value = tensor.ToScalar();
        return value.ToDouble();
    }

    /// <inheritdoc cref="ReadSingle"/>
    public static long ReadInt64(this Tensor tensor)
    {
        using var value = tensor.ToScalar();
        return value.ToInt64();
    }

    /// <inheritdoc cref="ReadSingle"/>
    public static int ReadInt32(this Tensor tensor)
    {
        using var value = tensor.ToScalar();
        return value.ToInt32();
    }

    /// <inheritdoc cref="ReadSingle"/>
    public static bool ReadBoolean(this Tensor tensor)
    {
        using var value = tensor.ToScalar();
        return value.ToBoolean();
    }
}
