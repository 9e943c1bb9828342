using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using ModelRouter.Interop;

namespace ModelRouter.Runtime.Native;

/// <summary>
/// Routes llama.cpp's and ggml's log to an <see cref="ILogger"/>. Until one is attached, warnings and errors go
/// to stderr (never stdout, which belongs to command output) and the chatty info/debug lines are dropped.
/// The last error lines of each thread are kept so a failed native call can say why in its exception.
/// </summary>
public static unsafe class NativeLog
{
    private const int ErrorLinesKept = 4;

    private static ILogger? logger;

    [ThreadStatic]
    private static StringBuilder? pendingLine;

    [ThreadStatic]
    private static ggml_log_level pendingLevel;

    [ThreadStatic]
    private static Queue<string>? recentErrors;

    [ThreadStatic]
    private static List<string>? captured;

    /// <summary>Sends native log lines to <paramref name="target"/> from now on (null: back to stderr, warnings up).</summary>
    public static void Attach(ILogger? target) => Volatile.Write(ref logger, target);

    /// <summary>Installs the callback; called once by <see cref="NativeRuntime"/> before backends initialise.</summary>
    internal static void Install() => Llama.llama_log_set(&OnLog, null);

    /// <summary>The error lines native code logged on this thread since the last call, joined; null when none.</summary>
    public static string? TakeRecentErrors()
    {
        if (recentErrors is not { Count: > 0 } errors)
        {
            return null;
        }

        var text = string.Join(" | ", errors);
        errors.Clear();
        return text;
    }

    /// <summary>
    /// Starts keeping every line (any level) native code logs on this thread, until <see cref="EndCapture"/>: how the
    /// runtime reads figures llama.cpp reports only in its log (a context's buffer sizes).
    /// </summary>
    internal static void BeginCapture() => captured = [];

    /// <summary>The lines logged on this thread since <see cref="BeginCapture"/>; stops capturing.</summary>
    internal static IReadOnlyList<string> EndCapture()
    {
        var lines = captured ?? [];
        captured = null;
        return lines;
    }

    /// <summary>Forgets this thread's recent error lines (before a native call whose failure we will explain).</summary>
    internal static void ClearRecentErrors() => recentErrors?.Clear();

    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static void OnLog(ggml_log_level level, sbyte* text, void* userData)
    {
        // An exception must never unwind into native frames: swallow everything here.
        try
        {
            Append(level, text);
        }
#pragma warning disable CA1031 // deliberately catch-all at the native boundary
        catch
#pragma warning restore CA1031
        {
        }
    }

    private static void Append(ggml_log_level level, sbyte* text)
    {
        if (text == null)
        {
            return;
        }

        var line = pendingLine ??= new StringBuilder(256);
        if (level != ggml_log_level.GGML_LOG_LEVEL_CONT)
        {
            pendingLevel = level;
        }

        line.Append(Marshal.PtrToStringUTF8((nint)text));
        // llama.cpp writes one message in several calls (CONT); emit whole lines only.
        if (line.Length == 0 || line[^1] != '\n')
        {
            return;
        }

        var message = line.ToString(0, line.Length - 1);
        line.Clear();
        Emit(pendingLevel, message);
    }

    private static void Emit(ggml_log_level level, string message)
    {
        captured?.Add(message);
        if (level == ggml_log_level.GGML_LOG_LEVEL_ERROR)
        {
            var errors = recentErrors ??= new Queue<string>(ErrorLinesKept);
            if (errors.Count == ErrorLinesKept)
            {
                errors.Dequeue();
            }

            errors.Enqueue(message.Trim());
        }

        var target = Volatile.Read(ref logger);
        var logLevel = level switch
        {
            ggml_log_level.GGML_LOG_LEVEL_ERROR => LogLevel.Error,
            ggml_log_level.GGML_LOG_LEVEL_WARN => LogLevel.Warning,
            ggml_log_level.GGML_LOG_LEVEL_INFO => LogLevel.Information,
            _ => LogLevel.Debug,
        };
        if (target is null)
        {
            if (logLevel >= LogLevel.Warning)
            {
                Console.Error.WriteLine("llama.cpp: " + message);
            }

            return;
        }

        if (target.IsEnabled(logLevel))
        {
            NativeLogMessages.NativeMessage(target, logLevel, message);
        }
    }
}

internal static partial class NativeLogMessages
{
    [LoggerMessage(EventId = 1000, Message = "llama.cpp: {Message}")]
    public static partial void NativeMessage(ILogger logger, LogLevel level, string message);
}
