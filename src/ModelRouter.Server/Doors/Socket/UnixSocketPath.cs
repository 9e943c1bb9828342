using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ModelRouter.Server.Doors.Socket;

/// <summary>
/// Makes a Unix-socket path ready to bind without ever removing what is not ours to remove: only a stale socket file
/// (a socket no server listens on: connecting is refused) is deleted. A live socket (another server answers), any
/// other kind of file, or a missing directory stops the start with an <see cref="IOException"/> whose one-line message
/// names the path and what is there (the CLI prints it as it is).
/// </summary>
public static class UnixSocketPath
{
    /// <summary>Checks <paramref name="path"/>; true when a stale socket file was removed.</summary>
    /// <exception cref="IOException">The path cannot be used (the message says why).</exception>
    public static bool Prepare(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var directory = Path.GetDirectoryName(path);
        if (!string.IsNullOrEmpty(directory) && !Directory.Exists(directory))
        {
            throw new IOException($"Unix socket path '{path}': the directory '{directory}' does not exist.");
        }

        if (Directory.Exists(path))
        {
            throw new IOException($"Unix socket path '{path}' is a directory; choose a file path for the socket.");
        }

        if (!File.Exists(path))
        {
            return false;
        }

        var kind = KindOf(path);
        if (kind is not (FileKind.Socket or FileKind.Unknown))
        {
            throw new IOException($"Unix socket path '{path}' is {Describe(kind)}, not a socket; it was left untouched: remove it or choose another path.");
        }

        using var probe = new System.Net.Sockets.Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            probe.Connect(new UnixDomainSocketEndPoint(path));
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionRefused && kind == FileKind.Socket)
        {
            File.Delete(path); // a socket file nobody listens on: left behind by a server that did not stop cleanly
            return true;
        }
        catch (SocketException ex)
        {
            throw new IOException($"Unix socket path '{path}' exists and could not be checked ({ex.SocketErrorCode}); it was left untouched.", ex);
        }

        throw new IOException($"Unix socket path '{path}' is in use: another server is listening on it (stop it, or choose another path).");
    }

    private enum FileKind
    {
        Unknown,
        Regular,
        Directory,
        Socket,
        Fifo,
        Device,
        SymbolicLink,
    }

    private static string Describe(FileKind kind) => kind switch
    {
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.Fifo => "a named pipe (FIFO)",
        FileKind.Device => "a device file",
        FileKind.SymbolicLink => "a symbolic link",
        _ => "a file of an unknown kind",
    };

    /// <summary>
    /// The file's type from lstat, through the runtime's own native shim (System.Native): .NET exposes no file type
    /// beyond "directory or not", and a regular file at the path must be told from a socket (connecting to either is
    /// refused alike). Unknown where the shim cannot be called (the connect probe then decides, as before).
    /// </summary>
    private static FileKind KindOf(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            return FileKind.Unknown;
        }

        try
        {
            if (NativeMethods.LStat(path, out var status) != 0)
            {
                return FileKind.Unknown;
            }

            return (status.Mode & FileTypeMask) switch
            {
                TypeSocket => FileKind.Socket,
                TypeRegular => FileKind.Regular,
                TypeDirectory => FileKind.Directory,
                TypeFifo => FileKind.Fifo,
                TypeCharacter or TypeBlock => FileKind.Device,
                TypeLink => FileKind.SymbolicLink,
                _ => FileKind.Unknown,
            };
        }
        catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
        {
            return FileKind.Unknown;
        }
    }

    // System.Native's normalised file-type bits (src/native/libs/System.Native/pal_io.h), the same on every Unix.
    private const int FileTypeMask = 0xF000;
    private const int TypeFifo = 0x1000;
    private const int TypeCharacter = 0x2000;
    private const int TypeDirectory = 0x4000;
    private const int TypeBlock = 0x6000;
    private const int TypeRegular = 0x8000;
    private const int TypeLink = 0xA000;
    private const int TypeSocket = 0xC000;

    /// <summary>
    /// The head of System.Native's FileStatus (Flags, Mode, ...); sized well past the whole struct so that a runtime
    /// that adds fields at its end cannot write beyond it.
    /// </summary>
    [StructLayout(LayoutKind.Sequential, Size = 512)]
    private struct FileStatus
    {
        public int Flags;
        public int Mode;
    }

    private static class NativeMethods
    {
        [DllImport("libSystem.Native", EntryPoint = "SystemNative_LStat", ExactSpelling = true)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int LStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, out FileStatus output);
    }
}
