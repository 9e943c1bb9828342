using ModelRouter.Client;
using ModelRouter.Protocol;
using ModelRouter.Runtime.Forge;
using ModelRouter.Tests.Shared;

namespace ModelRouter.Server.Tests;

/// <summary>
/// Model files that change under a running server (issue 16, point 6): truncated, rewritten in place or deleted, the
/// process never crashes (a SIGBUS would kill the test host) and never serves the changed file silently; the changed
/// model fails with ModelUnavailable naming its file and shows Failed in list-models, the other models keep answering,
/// and with ReloadOnChange the model serves the new file's weights. Every file is a copy in a temp folder.
/// </summary>
public sealed class ModelFileChangeTests
{
    private const int Timeout = 180_000;

    [Theory(Timeout = Timeout)]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_truncated_model_fails_naming_its_file_and_the_other_model_answers(bool evictFirst)
    {
        using var models = TestModels.Create(2);
        await using var server = await TestServer.StartAsync(models, residentModels: 2);
        await using var client = await server.ConnectAsync();
        var reference = TestModels.Reference(60);
        Assert.Equal(reference, (await client.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken)).Text);
        Assert.Equal(reference, (await client.CompleteAsync(Story("m1"), TestContext.Current.CancellationToken)).Text);
        await WaitUntilIdleAsync(server, "m0");
        if (evictFirst)
        {
            Assert.True(await server.Service.Pool.TryEvictAsync("m0", TestContext.Current.CancellationToken)); // warm: its host image
        }

        Truncate(models.Paths[0]);

        var ex = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.ModelUnavailable, ex.Code);
        Assert.Contains(models.Paths[0], ex.Message, StringComparison.Ordinal);
        Assert.Contains("truncated", ex.Message, StringComparison.Ordinal);
        Assert.Equal(reference, (await client.CompleteAsync(Story("m1"), TestContext.Current.CancellationToken)).Text);
        var listed = await client.ListModelsAsync(TestContext.Current.CancellationToken);
        Assert.Equal(ModelState.Failed, listed.Single(m => m.Name == "m0").State);
        Assert.NotEqual(ModelState.Failed, listed.Single(m => m.Name == "m1").State);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_file_rewritten_in_place_with_another_model_of_the_same_size_is_reported_not_served()
    {
        using var models = TestModels.Create(1);
        using var forged = ForgedPair.Create();
        var served = forged.Copy("served.gguf", forged.A);
        await using var server = await TestServer.StartAsync(models, residentModels: 2, [.. Model(1, "f", served), .. BigBudget]);
        await using var client = await server.ConnectAsync();
        var before = (await client.CompleteAsync(Short("f"), TestContext.Current.CancellationToken)).Text;
        await WaitUntilIdleAsync(server, "f");

        CopyInPlace(forged.B, served);

        var ex = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteAsync(Short("f"), TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.ModelUnavailable, ex.Code);
        Assert.Contains(served, ex.Message, StringComparison.Ordinal);
        Assert.NotEmpty(before);
        Assert.Equal(TestModels.Reference(60), (await client.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken)).Text);
    }

    [Fact(Timeout = Timeout)]
    public async Task A_deleted_model_file_is_reported_and_the_other_model_answers()
    {
        using var models = TestModels.Create(2);
        await using var server = await TestServer.StartAsync(models, residentModels: 2);
        await using var client = await server.ConnectAsync();
        Assert.Equal(TestModels.Reference(60), (await client.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken)).Text);
        await WaitUntilIdleAsync(server, "m0");

        File.Delete(models.Paths[0]);

        var ex = await Assert.ThrowsAsync<ModelRouterException>(() => client.CompleteAsync(Story("m0"), TestContext.Current.CancellationToken));
        Assert.Equal(ErrorCode.ModelUnavailable, ex.Code);
        Assert.Contains($"'{models.Paths[0]}' no longer exists", ex.Message, StringComparison.Ordinal);
        Assert.Equal(TestModels.Reference(60), (await client.CompleteAsync(Story("m1"), TestContext.Current.CancellationToken)).Text);
    }

    [Fact(Timeout = Timeout)]
    public async Task With_ReloadOnChange_a_rewritten_file_is_reloaded_and_its_new_weights_served()
    {
        using var models = TestModels.Create(1);
        using var forged = ForgedPair.Create();
        var served = forged.Copy("served.gguf", forged.A);
        await using var server = await TestServer.StartAsync(models, residentModels: 2,
            [.. Model(1, "r", served), "--ModelRouter:Models:1:ReloadOnChange=true", .. Model(2, "b", forged.B), .. BigBudget]);
        await using var client = await server.ConnectAsync();
        var fromA = (await client.CompleteAsync(Short("r"), TestContext.Current.CancellationToken)).Text;
        var fromB = (await client.CompleteAsync(Short("b"), TestContext.Current.CancellationToken)).Text;
        Assert.NotEqual(fromA, fromB); // else the test could not tell the weights apart
        await WaitUntilIdleAsync(server, "r");

        CopyInPlace(forged.B, served);

        Assert.Equal(fromB, (await client.CompleteAsync(Short("r"), TestContext.Current.CancellationToken)).Text);
        Assert.True(server.Service.Pool.TryGetStatus("r", out var status));
        Assert.Equal(1, status!.FileReloads);
    }

    private static readonly string[] BigBudget = ["--ModelRouter:DeviceBudgetBytes=1073741824"];

    private static GenerateRequest Story(string model) => new() { Model = model, Prompt = TestModels.Prompt, MaxTokens = 60, Temperature = 0 };

    private static GenerateRequest Short(string model) => new() { Model = model, Prompt = "Hello there", MaxTokens = 12, Temperature = 0 };

    private static string[] Model(int index, string name, string path) =>
    [
        $"--ModelRouter:Models:{index}:Name={name}",
        $"--ModelRouter:Models:{index}:Path={path}",
        $"--ModelRouter:Models:{index}:Capabilities:0=chat",
    ];

    /// <summary>
    /// Waits until the model's worker has given its lease back (it lingers briefly for more work): a request sent after
    /// a file change then acquires the model again, which is where the change is checked. Bounded by the test's timeout.
    /// </summary>
    private static async Task WaitUntilIdleAsync(TestServer server, string model)
    {
        while (server.Service.Pool.TryGetStatus(model, out var status) && status!.DecodesInFlight > 0)
        {
            await Task.Delay(5, TestContext.Current.CancellationToken);
        }
    }

    private static void CopyInPlace(string source, string target)
    {
        var bytes = File.ReadAllBytes(source);
        using var stream = new FileStream(target, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        stream.Write(bytes);
        stream.SetLength(bytes.Length);
    }

    private static void Truncate(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        stream.SetLength(stream.Length / 2);
    }

    /// <summary>Two tiny forged Llama models of the same size whose weights differ (seeds 7 and 8), in a temp folder.</summary>
    private sealed class ForgedPair : IDisposable
    {
        private ForgedPair(string directory)
        {
            Directory = directory;
        }

        public string Directory { get; }

        public string A => Path.Combine(Directory, "a.gguf");

        public string B => Path.Combine(Directory, "b.gguf");

        public static ForgedPair Create()
        {
            var vocab = TestRepository.RequireLlamaFile(Path.Combine("models", VocabLocator.DefaultFileName(ForgeArchitecture.Llama)));
            var pair = new ForgedPair(System.IO.Directory.CreateTempSubdirectory("mr-forged-").FullName);
            var shape = ForgePresets.TryGet("tiny", out var tiny) ? tiny : throw new InvalidOperationException("no tiny preset");
            ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q8_0) { VocabPath = vocab, Seed = 7 }, pair.A, cancellationToken: TestContext.Current.CancellationToken);
            ModelForge.Forge(new ForgeOptions(shape, ForgeWeightType.Q8_0) { VocabPath = vocab, Seed = 8 }, pair.B, cancellationToken: TestContext.Current.CancellationToken);
            Assert.Equal(new FileInfo(pair.A).Length, new FileInfo(pair.B).Length);
            return pair;
        }

        public string Copy(string name, string source)
        {
            var path = Path.Combine(Directory, name);
            File.Copy(source, path);
            return path;
        }

        public void Dispose()
        {
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
