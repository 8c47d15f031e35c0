using Evolution.Core;
using TorchSharp;
using static TorchSharp.torch;

namespace Evolution.Mechanisms;

/// <summary>A fitted ridge regression y ≈ x·W + b.</summary>
public sealed record RidgeFit(double[] Weights, double Intercept, double Lambda)
{
    public double Predict(double[] x)
    {
        double sum = Intercept;
        for (int i = 0; i < x.Length; i++) sum += x[i] * Weights[i];
        return sum;
    }
}

/// <summary>
/// Ridge regression with the penalty chosen by exact leave-one-out error, computed for every λ
/// from one SVD: with centred X = U S Vᵀ, the hat matrix is H = U diag(s²/(s²+λ)) Uᵀ and the
/// leave-one-out residual is (yᵢ − ŷᵢ)/(1 − Hᵢᵢ − 1/n), the 1/n for the unpenalised intercept (Golub, Heath &amp; Wahba 1979; as in scikit-learn's RidgeCV).
/// </summary>
public static class Ridge
{
    /// <summary>λ grid relative to the mean squared singular value, so it adapts to the feature scale.</summary>
    public static readonly double[] RelativeLambdas = [1e-4, 1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1, 3, 10, 30, 100];

    public static RidgeFit Fit(double[][] features, double[] targets)
    {
        using var scope = NewDisposeScope();
        int n = targets.Length, d = features[0].Length;
        var x = tensor(features.SelectMany(r => r).ToArray(), [n, d], ScalarType.Float64);
        var y = tensor(targets, ScalarType.Float64);
        var xMean = x.mean([0]);
        double yMean = targets.Average();
        var xc = x - xMean;
        using var yMeanScalar = yMean.ToScalar();
        var yc = y.sub(yMeanScalar);
        var (u, s, vh) = linalg.svd(xc, fullMatrices: false);
        var s2 = s.pow(Scalars.Two);
        var uty = u.t().matmul(yc);
        double scale = Math.Max(s2.mean().item<double>(), 1e-12);

        double bestLambda = double.NaN, bestError = double.PositiveInfinity;
        foreach (var relative in RelativeLambdas)
        {
            double lambda = relative * scale;
            double error = LooErrorFromSvd(u, s2, yc, lambda);
            if (error < bestError) (bestError, bestLambda) = (error, lambda);
        }
        using var bestLambdaScalar = bestLambda.ToScalar();
        var weights = vh.t().matmul(s / s2.add(bestLambdaScalar, Scalars.One) * uty);
        double intercept = yMean - xMean.dot(weights).item<double>();
        return new RidgeFit(weights.data<double>().ToArray(), intercept, bestLambda);
    }

    /// <summary>Leave-one-out squared error for one λ by brute force (n fits): the reference for tests.</summary>
    public static double BruteForceLooError(double[][] features, double[] targets, double lambda)
    {
        double total = 0;
        for (int i = 0; i < targets.Length; i++)
        {
            var trainX = features.Where((_, j) => j != i).ToArray();
            var trainY = targets.Where((_, j) => j != i).ToArray();
            var fit = FitWithLambda(trainX, trainY, lambda);
            total += Math.Pow(targets[i] - fit.Predict(features[i]), 2);
        }
        return total / targets.Length;
    }

    /// <summary>Efficient leave-one-out squared error for one λ (what <see cref="Fit"/> minimises).</summary>
    public static double LooError(double[][] features, double[] targets, double lambda)
    {
        using var scope = NewDisposeScope();
        int n = targets.Length, d = features[0].Length;
        var x = tensor(features.SelectMany(r => r).ToArray(), [n, d], ScalarType.Float64);
        var xc = x - x.mean([0]);
        using var yMean = targets.Average().ToScalar();
        var yc = tensor(targets, ScalarType.Float64).sub(yMean);
        var (u, s, _) = linalg.svd(xc, fullMatrices: false);
        return LooErrorFromSvd(u, s.pow(Scalars.Two), yc, lambda);
    }

    /// <summary>Mean squared leave-one-out residual (yᵢ − ŷᵢ)/(1 − Hᵢᵢ), with Hᵢᵢ including 1/n for the intercept.</summary>
    static double LooErrorFromSvd(Tensor u, Tensor s2, Tensor yc, double lambda)
    {
        using var lambdaScalar = lambda.ToScalar();
        using var interceptLeverage = (1.0 / yc.shape[0]).ToScalar();
        using var floor = 1e-9.ToScalar();
        var shrink = s2 / s2.add(lambdaScalar, Scalars.One);
        var fitted = u.matmul(shrink * u.t().matmul(yc));
        var leverage = (u.pow(Scalars.Two) * shrink).sum(1).add(interceptLeverage, Scalars.One);
        return ((yc - fitted) / leverage.negative().add(Scalars.One, Scalars.One).clamp_min(floor)).pow(Scalars.Two).mean().item<double>();
    }

    static RidgeFit FitWithLambda(double[][] features, double[] targets, double lambda)
    {
        using var scope = NewDisposeScope();
        int n = targets.Length, d = features[0].Length;
        var x = tensor(features.SelectMany(r => r).ToArray(), [n, d], ScalarType.Float64);
        var xMean = x.mean([0]);
        var xc = x - xMean;
        using var yMean = targets.Average().ToScalar();
        using var lambdaScalar = lambda.ToScalar();
        var yc = tensor(targets, ScalarType.Float64).sub(yMean);
        var w = linalg.solve(xc.t().matmul(xc).add(eye(d, dtype: ScalarType.Float64).mul(lambdaScalar), Scalars.One), xc.t().matmul(yc));
        return new RidgeFit(w.data<double>().ToArray(), targets.Average() - xMean.dot(w).item<double>(), lambda);
    }

    /// <summary>Each sample predicted by a model fitted without its fold (λ chosen by LOO inside the training part).</summary>
    public static double[] CrossValidatedPredictions(double[][] features, double[] targets, int[] fold)
    {
        var predictions = new double[targets.Length];
        foreach (var held in fold.Distinct())
        {
            var train = Enumerable.Range(0, targets.Length).Where(i => fold[i] != held).ToArray();
            if (train.Length < 3) throw new ArgumentException("too few samples outside a fold to fit a probe");
            var fit = Fit(train.Select(i => features[i]).ToArray(), train.Select(i => targets[i]).ToArray());
            for (int i = 0; i < targets.Length; i++)
                if (fold[i] == held) predictions[i] = fit.Predict(features[i]);
        }
        return predictions;
    }

    /// <summary>Coefficient of determination 1 − SS_res/SS_tot.</summary>
    public static double RSquared(double[] targets, double[] predictions)
    {
        double mean = targets.Average(), residual = 0, total = 0;
        for (int i = 0; i < targets.Length; i++)
        {
            residual += Math.Pow(targets[i] - predictions[i], 2);
            total += Math.Pow(targets[i] - mean, 2);
        }
        return 1 - residual / total;
    }

    /// <summary>
    /// Proximity error (Gurnee &amp; Tegmark 2023): for each sample, the fraction of other samples whose
    /// true value is closer to its prediction than its own true value; 0 is perfect, about 0.5 is chance.
    /// </summary>
    public static double ProximityError(double[] targets, double[] predictions)
    {
        double sum = 0;
        for (int i = 0; i < targets.Length; i++)
        {
            double own = Math.Abs(targets[i] - predictions[i]);
            int closer = 0;
            for (int j = 0; j < targets.Length; j++)
                if (j != i && Math.Abs(targets[j] - predictions[i]) < own) closer++;
            sum += (double)closer / (targets.Length - 1);
        }
        return sum / targets.Length;
    }
}
