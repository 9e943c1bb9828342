using ModelRouter.Runtime.Swap;

namespace ModelRouter.Runtime.Tests.Swap;

/// <summary>The identity a CUDA store trusts before adopting a host image an earlier process left behind.</summary>
public sealed class HostImageRecordTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("mr-image-record-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private string Source(string name, int bytes)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllBytes(path, new byte[bytes]);
        return path;
    }

    [Fact]
    public void A_written_record_reads_back_equal_and_matches_its_source()
    {
        var source = Source("model.gguf", 1000);
        var record = HostImageRecord.Describe(source, "de3ff81", 64 << 20, -1) with { ImageBytes = 2 << 20, LayoutHash = 0xfedcba9876543210 };
        var path = Path.Combine(directory, "model.weights.id");

        record.Write(path);

        var read = HostImageRecord.TryRead(path);
        Assert.Equal(record, read);
        Assert.True(read!.SameSourceAs(HostImageRecord.Describe(source, "de3ff81", 64 << 20, -1)));
        Assert.False(File.Exists(path + ".tmp"));
    }

    [Fact]
    public void A_changed_source_another_build_or_other_settings_do_not_match()
    {
        var source = Source("model.gguf", 1000);
        var record = HostImageRecord.Describe(source, "de3ff81", 64 << 20, -1);

        Assert.False(record.SameSourceAs(HostImageRecord.Describe(source, "0123456", 64 << 20, -1)));
        Assert.False(record.SameSourceAs(HostImageRecord.Describe(source, "de3ff81", 32 << 20, -1)));
        Assert.False(record.SameSourceAs(HostImageRecord.Describe(source, "de3ff81", 64 << 20, 10)));

        File.WriteAllBytes(source, new byte[1001]); // replaced on disk: another length
        Assert.False(record.SameSourceAs(HostImageRecord.Describe(source, "de3ff81", 64 << 20, -1)));

        File.WriteAllBytes(source, new byte[1000]);
        File.SetLastWriteTimeUtc(source, new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc)); // same length, rewritten
        Assert.False(record.SameSourceAs(HostImageRecord.Describe(source, "de3ff81", 64 << 20, -1)));
    }

    [Theory]
    [InlineData("")]
    [InlineData("not a record")]
    [InlineData("modelrouter-host-image 2\nsource=/x\n")]
    [InlineData("modelrouter-host-image 1\nsource=/x\nsource_bytes=ten\n")]
    [InlineData("modelrouter-host-image 1\nsource=/x\nsource_bytes=1\nsource_last_write_utc_ticks=1\nllama_commit=a\nchunk_bytes=1\ngpu_layers=-1\nimage_bytes=0\nlayout_hash=ff\n")]
    [InlineData("modelrouter-host-image 1\nsource=/x\nsource_bytes=1\nsource_last_write_utc_ticks=1\nllama_commit=a\nchunk_bytes=1\ngpu_layers=-1\nimage_bytes=5\nlayout_hash=zz\n")]
    public void Malformed_or_foreign_records_are_not_trusted(string text)
    {
        var path = Path.Combine(directory, "bad.weights.id");
        File.WriteAllText(path, text);

        Assert.Null(HostImageRecord.TryRead(path));
    }

    [Fact]
    public void A_missing_record_is_not_trusted() => Assert.Null(HostImageRecord.TryRead(Path.Combine(directory, "absent.id")));
}
