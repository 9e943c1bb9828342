using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ModelRouter.Bindings.Generator.Clang;

/// <summary>A source position reduced to what the generator needs: file path, line, column, offset.</summary>
internal readonly record struct SourcePosition(string File, uint Line, uint Column, uint Offset);

// Managed conveniences over LibClang: CXString ownership, child enumeration, locations.
internal static unsafe class ClangExtensions
{
    public static string ToManaged(CXString value)
    {
        try
        {
            var chars = LibClang.clang_getCString(value);
            return chars == null ? string.Empty : Marshal.PtrToStringUTF8((nint)chars) ?? string.Empty;
        }
        finally
        {
            LibClang.clang_disposeString(value);
        }
    }

    public static string Spelling(this CXCursor cursor) => ToManaged(LibClang.clang_getCursorSpelling(cursor));

    public static string Spelling(this CXType type) => ToManaged(LibClang.clang_getTypeSpelling(type));

    public static CXType Type(this CXCursor cursor) => LibClang.clang_getCursorType(cursor);

    // 70-73 are CXCursor_InvalidFile..CXCursor_InvalidCode: libclang's "no such cursor" answers.
    public static bool IsNull(this CXCursor cursor) => (int)cursor.kind is 0 or (>= 70 and <= 73);

    public static CXCursor Declaration(this CXType type) => LibClang.clang_getTypeDeclaration(type);

    public static SourcePosition Position(this CXCursor cursor) => Position(LibClang.clang_getCursorLocation(cursor));

    public static SourcePosition Position(CXSourceLocation location)
    {
        void* file;
        uint line, column, offset;
        // Expansion location: a declaration written inside a macro (DEPRECATED(...)) belongs to the header
        // that expands the macro, which is what the per-header configuration means.
        LibClang.clang_getExpansionLocation(location, &file, &line, &column, &offset);
        var path = file == null ? string.Empty : ToManaged(LibClang.clang_getFileName(file));
        return new SourcePosition(path, line, column, offset);
    }

    /// <summary>Direct children of a cursor, in source order.</summary>
    public static List<CXCursor> Children(this CXCursor parent)
    {
        var list = new List<CXCursor>();
        var handle = GCHandle.Alloc(list);
        try
        {
            // The return value only says whether a visitor asked to stop early, which ours never does.
            _ = LibClang.clang_visitChildren(parent, &CollectChild, (void*)GCHandle.ToIntPtr(handle));
        }
        finally
        {
            handle.Free();
        }

        return list;
    }

    // Never throws: an exception crossing back into libclang would tear down the process.
    [UnmanagedCallersOnly(CallConvs = [typeof(CallConvCdecl)])]
    private static CXChildVisitResult CollectChild(CXCursor cursor, CXCursor parent, void* clientData)
    {
        if (GCHandle.FromIntPtr((nint)clientData).Target is List<CXCursor> list)
        {
            list.Add(cursor);
        }

        return CXChildVisitResult.Continue;
    }
}
