using System.Runtime.CompilerServices;

// Callbacks handed to llama.cpp ([UnmanagedCallersOnly], e.g. load progress returning C bool) use the same
// blittable rules as the generated bindings: bool is one byte, nothing is marshalled.
[assembly: DisableRuntimeMarshalling]
