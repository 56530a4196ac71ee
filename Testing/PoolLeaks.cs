using Fabrik.Tensors;

namespace Fabrik.Testing;

/// <summary>Fails when a tensor pool still has arrays out, naming where they were rented.</summary>
internal static class PoolLeaks
{
    public static void AssertNoneOutstanding(TensorMemoryPool pool)
    {
        if (pool.Outstanding != 0)
        {
            var sites = pool.DescribeOutstanding();
            throw new InvalidOperationException(
                $"{pool.Outstanding} tensor buffer(s) still rented after the server stopped:\n{string.Join("\n", sites.Take(5))}");
        }
    }
}
