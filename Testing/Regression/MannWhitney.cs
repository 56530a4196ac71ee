namespace Fabrik.Testing.Regression;

/// <summary>
/// The Mann-Whitney U test (Wilcoxon rank-sum): whether two samples come from the same
/// distribution, without assuming it is normal (benchmark timings rarely are). Exact for small
/// samples without ties; the normal approximation with tie correction otherwise.
/// </summary>
public static class MannWhitney
{
    /// <summary>The two-sided p-value for samples <paramref name="x"/> and <paramref name="y"/>;
    /// 1 when either is empty.</summary>
    public static double TwoSidedP(IReadOnlyList<double> x, IReadOnlyList<double> y)
    {
        int n1 = x.Count, n2 = y.Count;
        if (n1 == 0 || n2 == 0)
        {
            return 1;
        }
        // Ranks over both samples, ties given their average rank.
        var all = x.Select(v => (Value: v, First: true)).Concat(y.Select(v => (Value: v, First: false))).OrderBy(p => p.Value).ToArray();
        var ranks = new double[all.Length];
        var tieTerm = 0.0;
        for (var i = 0; i < all.Length;)
        {
            var j = i;
            while (j + 1 < all.Length && all[j + 1].Value == all[i].Value)
            {
                j++;
            }
            var rank = (i + j + 2) / 2.0;
            for (var k = i; k <= j; k++)
            {
                ranks[k] = rank;
            }
            var t = j - i + 1;
            tieTerm += (t * t * t) - t;
            i = j + 1;
        }
        var rankSum = all.Select((p, i) => p.First ? ranks[i] : 0).Sum();
        var u = rankSum - (n1 * (n1 + 1) / 2.0);
        var smaller = Math.Min(u, ((double)n1 * n2) - u);

        if (tieTerm == 0 && n1 + n2 <= 60)
        {
            // Exact: P(U <= smaller) from the number of arrangements with each U, doubled.
            var counts = ArrangementCounts(n1, n2);
            var total = counts.Sum();
            var below = 0.0;
            for (var v = 0; v <= (int)smaller; v++)
            {
                below += counts[v];
            }
            return Math.Min(1, 2 * below / total);
        }
        var n = n1 + n2;
        var mean = n1 * n2 / 2.0;
        var variance = n1 * n2 / 12.0 * (n + 1 - (tieTerm / (n * (n - 1.0))));
        if (variance <= 0)
        {
            return 1;
        }
        var z = (smaller - mean + 0.5) / Math.Sqrt(variance); // continuity correction
        return Math.Min(1, 2 * NormalCdf(z));
    }

    /// <summary>counts[u]: how many of the C(n1+n2, n1) orderings give statistic u.</summary>
    private static double[] ArrangementCounts(int n1, int n2)
    {
        // f[i][j][u] = f[i-1][j][u-j] + f[i][j-1][u], kept two rows at a time over i.
        var max = n1 * n2;
        var previous = new double[n2 + 1][];
        for (var j = 0; j <= n2; j++)
        {
            previous[j] = new double[max + 1];
            previous[j][0] = 1; // i = 0: one ordering, U = 0
        }
        for (var i = 1; i <= n1; i++)
        {
            var current = new double[n2 + 1][];
            current[0] = new double[max + 1];
            current[0][0] = 1;
            for (var j = 1; j <= n2; j++)
            {
                current[j] = new double[max + 1];
                for (var u = 0; u <= max; u++)
                {
                    current[j][u] = (u >= j ? previous[j][u - j] : 0) + current[j - 1][u];
                }
            }
            previous = current;
        }
        return previous[n2];
    }

    private static double NormalCdf(double z) => 0.5 * Erfc(-z / Math.Sqrt(2));

    /// <summary>Complementary error function (Numerical Recipes' erfcc, relative error below 1.2e-7).</summary>
    private static double Erfc(double x)
    {
        var z = Math.Abs(x);
        var t = 1 / (1 + (0.5 * z));
        double[] coefficients = [-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806, 0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277];
        var polynomial = 0.0;
        for (var k = coefficients.Length - 1; k >= 0; k--)
        {
            polynomial = coefficients[k] + (t * polynomial);
        }
        var r = t * Math.Exp(-(z * z) + polynomial);
        return x >= 0 ? r : 2 - r;
    }
}
