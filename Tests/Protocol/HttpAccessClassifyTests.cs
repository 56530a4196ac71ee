using Fabrik.Protocol.Http;
using Fabrik.Security.Access;
using Xunit;

namespace Fabrik.Tests.Protocol;

/// <summary>Which API group (and, for inference, which model) a path falls under, as the access
/// rules see it. The inference routes take a path that is not split; every answer must be the one
/// the general route table gives.</summary>
public sealed class HttpAccessClassifyTests
{
    [Theory]
    [InlineData("/v2/models/mlp/infer", "Inference", "mlp")]
    [InlineData("/V2/Models/MLP/INFER", "Inference", "MLP")]
    [InlineData("/v2/models/mlp/versions/3/infer", "Inference", "mlp")]
    [InlineData("/v2/models/mlp/versions//infer", "Inference", "mlp")]
    [InlineData("/v2/models/mlp/infer/", "Inference", "mlp")]
    [InlineData("/v2/models//infer", "Inference", "")]
    [InlineData("/v2/models/mlp/versions/1/2/infer", "Other", null)]
    [InlineData("/v2/models/mlp/inference", "Other", null)]
    [InlineData("/v2/models/mlp/versions/3/ready", "Health", null)]
    [InlineData("/v2/models/mlp/config", "ModelConfig", null)]
    [InlineData("/v2/models/infer", "Metadata", null)]
    [InlineData("/v2/models/stats", "Statistics", null)]
    [InlineData("/v2/repository/models/mlp/load", "Repository", null)]
    [InlineData("/v2/health/ready", "Health", null)]
    [InlineData("/metrics", "Metrics", null)]
    public void Classify_GivesTheRouteTablesGroupAndModel(string path, string group, string? model)
    {
        Assert.Equal((Enum.Parse<ApiGroup>(group), model), HttpAccessMiddleware.Classify(path));
    }
}
