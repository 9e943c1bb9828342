namespace ModelRouter.Runtime.Gguf;

/// <summary>Maps CLR primitive types to the GGUF value type that stores them (typeof tests fold at JIT time).</summary>
internal static class GgufTypeMap
{
    public static GgufValueType? Of<T>()
        where T : unmanaged
    {
        if (typeof(T) == typeof(byte)) return GgufValueType.UInt8;
        if (typeof(T) == typeof(sbyte)) return GgufValueType.Int8;
        if (typeof(T) == typeof(ushort)) return GgufValueType.UInt16;
        if (typeof(T) == typeof(short)) return GgufValueType.Int16;
        if (typeof(T) == typeof(uint)) return GgufValueType.UInt32;
        if (typeof(T) == typeof(int)) return GgufValueType.Int32;
        if (typeof(T) == typeof(float)) return GgufValueType.Float32;
        if (typeof(T) == typeof(bool)) return GgufValueType.Bool;
        if (typeof(T) == typeof(ulong)) return GgufValueType.UInt64;
        if (typeof(T) == typeof(long)) return GgufValueType.Int64;
        if (typeof(T) == typeof(double)) return GgufValueType.Float64;
        return null;
    }
}
