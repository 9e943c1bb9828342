using ModelRouter.Runtime.Gguf;

namespace ModelRouter.Runtime.Tests.Gguf;

public sealed class MalformedGgufTests
{
    [Fact]
    public void The_valid_base_of_the_corpus_is_valid()
    {
        using var dir = new TempDirectory("gguf-corpus");
        var path = dir.File("base.gguf");
        File.WriteAllBytes(path, RawGguf.ValidBase().Build());

        GgufValidator.Validate(path);
        using var file = GgufFile.Open(path);
        Assert.Equal(3, file.Tensors.Count);
        Assert.Equal(["alpha", "beta", "gamma"], file.GetArray("test.words").ToStringArray());
    }

    [Fact]
    public void Every_file_of_the_malformed_corpus_is_rejected_with_its_path_and_problem()
    {
        var corpus = MalformedGgufCorpus.Build();
        using var dir = new TempDirectory("gguf-corpus");
        var failures = new List<string>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var item in corpus)
        {
            Assert.True(names.Add(item.Name), $"duplicate case name {item.Name}");
            var path = dir.File(item.Name + ".gguf");
            File.WriteAllBytes(path, item.Bytes);
            if (Check(path, item.Expected) is { } failure)
            {
                failures.Add($"{item.Name}: {failure}");
            }
        }

        // Paths that are not readable files at all.
        var special = new (string Path, string Expected)[]
        {
            (dir.File("does-not-exist.gguf"), "does not exist"),
            (Path.Combine(dir.Path, "no-such-dir", "model.gguf"), "does not exist"),
            (dir.Path, "cannot be opened"),
        };
        foreach (var (path, expected) in special)
        {
            if (Check(path, expected) is { } failure)
            {
                failures.Add($"{path}: {failure}");
            }
        }

        var total = corpus.Count + special.Length;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"malformed GGUF corpus: {total} files ({corpus.Count(c => c.Name.StartsWith("truncated", StringComparison.Ordinal))} truncated, " +
            $"{corpus.Count(c => c.Name.StartsWith("bitflip", StringComparison.Ordinal))} bit-flipped, " +
            $"{corpus.Count(c => !c.Name.StartsWith("truncated", StringComparison.Ordinal) && !c.Name.StartsWith("bitflip", StringComparison.Ordinal)) + special.Length} hand-crafted), " +
            $"{total - failures.Count} rejected as expected");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        Assert.True(total >= 50, $"the corpus has only {total} files");

        // The process is healthy afterwards: a good file still opens and reads.
        var good = dir.File("good.gguf");
        File.WriteAllBytes(good, RawGguf.ValidBase().Build());
        GgufValidator.Validate(good);
        using var file = GgufFile.Open(good);
        Assert.Equal(7u, file.GetUInt32("test.count"));
        Assert.Equal(32, file.GetTensorData(file.Tensors[0]).Length);
    }

    [Fact]
    public void Random_corruption_only_ever_raises_InvalidModelFileException()
    {
        // Flips anywhere in the header and index may or may not break the file (a flip inside a string's text
        // leaves it valid), but the reader must either accept it or reject it cleanly: never another exception.
        var raw = RawGguf.ValidBase();
        var original = raw.Build();
        var indexEnd = (int)raw.Fields["data"];
        using var dir = new TempDirectory("gguf-fuzz");
        var random = new Random(20240601);
        int accepted = 0, rejected = 0;
        for (var i = 0; i < 400; i++)
        {
            var bytes = (byte[])original.Clone();
            var flips = 1 + random.Next(3);
            for (var f = 0; f < flips; f++)
            {
                bytes[random.Next(indexEnd)] ^= (byte)(1 << random.Next(8));
            }

            var length = random.Next(4) == 0 ? random.Next(bytes.Length) : bytes.Length;
            var path = dir.File($"fuzz-{i}.gguf");
            File.WriteAllBytes(path, bytes[..length]);
            try
            {
                GgufValidator.Validate(path);
                using var file = GgufFile.Open(path);
                foreach (var tensor in file.Tensors)
                {
                    Assert.InRange(tensor.AbsoluteEnd, tensor.AbsoluteOffset, file.FileLength);
                }

                accepted++;
            }
            catch (InvalidModelFileException ex)
            {
                Assert.Equal(path, ex.FilePath);
                rejected++;
            }
        }

        TestContext.Current.TestOutputHelper?.WriteLine($"random corruption: {rejected} rejected, {accepted} still valid, no other exception");
        Assert.True(rejected > 0);
    }

    private static string? Check(string path, string? expected)
    {
        try
        {
            GgufValidator.Validate(path);
            return "accepted";
        }
        catch (InvalidModelFileException ex)
        {
            if (ex.FilePath != path || !ex.Message.Contains(path, StringComparison.Ordinal))
            {
                return $"message does not name the file: {ex.Message}";
            }

            if (expected is not null && !ex.Problem.Contains(expected, StringComparison.Ordinal))
            {
                return $"expected '{expected}' in: {ex.Problem}";
            }

            return null;
        }
        catch (Exception ex)
        {
            return $"wrong exception {ex.GetType().Name}: {ex.Message}";
        }
    }
}
