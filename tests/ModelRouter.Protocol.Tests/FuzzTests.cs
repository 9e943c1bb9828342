using System.Buffers;

namespace ModelRouter.Protocol.Tests;

/// <summary>
/// Fuzzing the readers as a receiver uses them: 100,000 mutated and random inputs, split into random segments. The
/// only exception ever seen is <see cref="ProtocolException"/>; every loop makes progress (no hang); no input makes the
/// readers allocate more than a bound (a declared count or length never drives an allocation).
/// </summary>
public sealed class FuzzTests
{
    private const int Inputs = 100_000;

    [Fact]
    public void HundredThousandMutatedAndRandomInputsOnlyRaiseProtocolErrors()
    {
        var mutator = new FrameMutator(20261123, SampleFrames.All.Select(s => s.Encode()).ToList());
        var limits = ProtocolLimits.Default with { MaxPayloadBytes = 64 * 1024 };
        long frames = 0, fatal = 0, payloadErrors = 0, accepted = 0;
        long maxAllocated = 0;
        var types = new HashSet<FrameType>();

        for (var i = 0; i < Inputs; i++)
        {
            var input = mutator.Next();
            var buffer = Segments.Split(input, mutator.Cuts(input.Length));
            var before = GC.GetAllocatedBytesForCurrentThread();
            var iterations = 0;
            while (true)
            {
                Assert.True(++iterations <= input.Length + 2, "the reader stopped making progress");
                try
                {
                    if (!FrameReader.TryReadFrame(ref buffer, limits, out var frame))
                    {
                        break;
                    }

                    frames++;
                    types.Add(frame.Type);
                    ReadPayload(frame, limits);
                    accepted++;
                }
                catch (ProtocolException ex) when (ex.IsFatal)
                {
                    fatal++;
                    break;
                }
                catch (ProtocolException)
                {
                    payloadErrors++;
                }
            }

            maxAllocated = Math.Max(maxAllocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        // The mix reaches every layer: framing errors, payload errors, and valid frames of every type.
        Assert.True(fatal > Inputs / 20, $"fatal {fatal}");
        Assert.True(payloadErrors > Inputs / 5, $"payload errors {payloadErrors}");
        Assert.True(accepted > Inputs / 10, $"accepted {accepted}");
        Assert.Equal(Enum.GetValues<FrameType>().Length, types.Count(FrameTypes.IsDefined));
        Assert.True(maxAllocated < 256 * 1024, $"one input allocated {maxAllocated} bytes");
    }

    /// <summary>Dispatches a frame to its reader the way a server (or client) does.</summary>
    internal static void ReadPayload(in Frame frame, in ProtocolLimits limits)
    {
        using var lease = frame.LeasePayload();
        var p = lease.Span;
        switch (frame.Type)
        {
            case FrameType.Hello: MessageReader.ReadHello(p, limits); break;
            case FrameType.HelloOk: MessageReader.ReadHelloOk(p, limits); break;
            case FrameType.Ping or FrameType.Pong: MessageReader.ReadPing(p); break;
            case FrameType.GoAway: MessageReader.ReadGoAway(p); break;
            case FrameType.Generate: MessageReader.ReadGenerate(p, limits).ToRequest(); break;
            case FrameType.Route: MessageReader.ReadRoute(p, limits).ToRequest(); break;
            case FrameType.Embed: MessageReader.ReadEmbed(p, limits).ToRequest(); break;
            case FrameType.Cancel or FrameType.ListModels or FrameType.GetStats: MessageReader.ReadEmpty(p); break;
            case FrameType.Admin: MessageReader.ReadAdmin(p, limits).GetModel(); break;
            case FrameType.Chat: MessageReader.ReadChat(p, limits).ToRequest(); break;
            case FrameType.TokenChunk: MessageReader.ReadTokenChunk(p).GetText(); break;
            case FrameType.Done: MessageReader.ReadDone(p, limits); break;
            case FrameType.RouteResult: MessageReader.ReadRouteResult(p, limits); break;
            case FrameType.EmbedResult: MessageReader.ReadEmbedResult(p, limits).ToResult(); break;
            case FrameType.ModelList: MessageReader.ReadModelList(p, limits); break;
            case FrameType.Stats: MessageReader.ReadStats(p, limits); break;
            case FrameType.AdminResult: MessageReader.ReadAdminResult(p, limits); break;
            case FrameType.Error: MessageReader.ReadError(p).GetMessage(); break;
            default: throw new InvalidOperationException($"the reader returned an undefined type {frame.Type}");
        }
    }
}
