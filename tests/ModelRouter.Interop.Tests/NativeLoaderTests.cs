using System.Runtime.InteropServices;

namespace ModelRouter.Interop.Tests;

public sealed class NativeLoaderTests
{
    [Fact]
    public void Loads_every_required_library_from_the_output_directory()
    {
        var set = NativeLibraryLoader.EnsureLoaded();

        Assert.True(File.Exists(Path.Combine(set.Directory, NativeLibraryNames.FileName(NativeLibraryNames.Llama))));
        foreach (var name in new[] { NativeLibraryNames.GgmlBase, NativeLibraryNames.Ggml, NativeLibraryNames.Llama, NativeLibraryNames.Shim })
        {
            Assert.True(set.IsLoaded(name), name);
            Assert.NotEqual(0, set.GetHandle(name));
        }

        // Exports resolve through the same handles the generated imports use.
        Assert.True(NativeLibrary.TryGetExport(set.GetHandle(NativeLibraryNames.Llama), "llama_backend_init", out _));
        Assert.True(NativeLibrary.TryGetExport(set.GetHandle(NativeLibraryNames.Shim), "mr_build_info_get", out _));
    }

    [Fact]
    public void Loads_libmr_common_beside_the_shim_and_its_ABI_matches_the_bindings()
    {
        var set = NativeLibraryLoader.EnsureLoaded();
        if (!File.Exists(Path.Combine(set.Directory, NativeLibraryNames.FileName(NativeLibraryNames.Common))))
        {
            Assert.Skip($"{set.Directory} is a native build from before libmr_common: run ./build.sh native.");
        }

        Assert.True(set.IsLoaded(NativeLibraryNames.Common));
        Assert.Equal(MrCommon.MR_COMMON_ABI_VERSION, MrCommon.mr_common_abi_version());
    }

    [Fact]
    public void An_empty_directory_fails_with_every_path_tried()
    {
        var empty = Directory.CreateTempSubdirectory("mr-loader-empty-");
        var other = Directory.CreateTempSubdirectory("mr-loader-other-");
        try
        {
            var ex = Assert.Throws<NativeLibraryLoadException>(() => NativeLibraryLoader.LoadFrom([empty.FullName, other.FullName]));

            Assert.Equal(NativeLibraryNames.Llama, ex.LibraryName);
            Assert.Equal(2, ex.Attempts.Count);
            Assert.Contains(empty.FullName, ex.Message, StringComparison.Ordinal);
            Assert.Contains(other.FullName, ex.Message, StringComparison.Ordinal);
            Assert.Contains("./build.sh native", ex.Message, StringComparison.Ordinal);
            Assert.Contains(NativeLibraryLoader.DirectoryVariable, ex.Message, StringComparison.Ordinal);
        }
        finally
        {
            empty.Delete(recursive: true);
            other.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_corrupt_library_fails_with_the_loaders_own_error()
    {
        var dir = Directory.CreateTempSubdirectory("mr-loader-corrupt-");
        try
        {
            // A directory whose first library is not an ELF file: the OS loader's complaint must come through.
            foreach (var name in new[] { NativeLibraryNames.GgmlBase, NativeLibraryNames.Ggml, NativeLibraryNames.Llama, NativeLibraryNames.Shim })
            {
                File.WriteAllText(Path.Combine(dir.FullName, NativeLibraryNames.FileName(name)), "not a shared library");
            }

            var ex = Assert.Throws<NativeLibraryLoadException>(() => NativeLibraryLoader.LoadFrom([dir.FullName]));

            Assert.Equal(NativeLibraryNames.GgmlBase, ex.LibraryName);
            var attempt = Assert.Single(ex.Attempts);
            Assert.Equal(Path.Combine(dir.FullName, NativeLibraryNames.FileName(NativeLibraryNames.GgmlBase)), attempt.Path);
            Assert.NotEqual("file not found", attempt.Error);
            if (OperatingSystem.IsLinux())
            {
                // dlerror() text, e.g. "invalid ELF header" or "file too short".
                Assert.Matches("ELF|too short", attempt.Error);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_missing_required_library_is_named()
    {
        var dir = Directory.CreateTempSubdirectory("mr-loader-partial-");
        try
        {
            // llama present (so this directory is "the build") but ggml-base absent.
            File.WriteAllText(Path.Combine(dir.FullName, NativeLibraryNames.FileName(NativeLibraryNames.Llama)), "x");

            var ex = Assert.Throws<NativeLibraryLoadException>(() => NativeLibraryLoader.LoadFrom([dir.FullName]));

            Assert.Equal(NativeLibraryNames.GgmlBase, ex.LibraryName);
            Assert.Equal("file not found", Assert.Single(ex.Attempts).Error);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
