using System.Globalization;
using System.Text;
using System.Text.Json;

namespace ModelRouter.Cli.Soak;

/// <summary>One line of the soak's table and one row of soak.csv: the server's sample and the soak's running counts.</summary>
public sealed record SoakRow(string Label, ServerSample Sample, long Sent, long Done, long Errors, long Cancelled, long Disconnected, long Closed, long Lost, int Open)
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public const string Heading =
        "    time   rss MB   gc MB  threads  handles  sockets  conns  in-flight  swaps     sent     done   errors  cancel  discon  closed  lost  open";

    public const string CsvHeading =
        "label,elapsed_s,rss_bytes,rss_anon_bytes,gc_heap_bytes,threads,handles,sockets,connections,in_flight,queued,swaps,server_requests,server_errors,sent,done,errors,cancelled,disconnected,closed,lost,open";

    internal static SoakRow From(ServerSample sample, SoakLedger ledger, string label) => new(
        label, sample, ledger.Total(k => k.Sent), ledger.Total(k => k.Done), ledger.Total(k => k.Errors), ledger.Total(k => k.Cancelled),
        ledger.Total(k => k.Disconnected), ledger.Total(k => k.ClosedByServer), ledger.Total(k => k.Lost), ledger.OpenCount);

    public string ToLine()
    {
        var s = Sample;
        var seconds = (int)Math.Round(s.Elapsed.TotalSeconds);
        var time = Label.Length > 0 ? Label : $"{seconds / 60:D2}:{seconds % 60:D2}";
        return string.Format(C, "{0,8} {1,8} {2,7} {3,8} {4,8} {5,8} {6,6} {7,10} {8,6} {9,8} {10,8} {11,8} {12,7} {13,7} {14,7} {15,5} {16,5}",
            time, SoakRunner.Mb(s.RssBytes), s.GcHeapBytes is { } gc ? SoakRunner.Mb(gc) : "n/a", s.Threads, s.Handles, s.Sockets,
            s.Connections < 0 ? "?" : s.Connections.ToString(C), s.InFlight, s.Swaps, Sent, Done, Errors, Cancelled, Disconnected, Closed, Lost, Open);
    }

    public string ToCsv()
    {
        var s = Sample;
        return string.Join(',', Label, s.Elapsed.TotalSeconds.ToString("F1", C), s.RssBytes.ToString(C), s.RssAnonBytes.ToString(C), s.GcHeapBytes?.ToString(C) ?? "",
            s.Threads.ToString(C), s.Handles.ToString(C), s.Sockets.ToString(C), s.Connections.ToString(C), s.InFlight.ToString(C),
            s.Queued.ToString(C), s.Swaps.ToString(C), s.ServerRequests.ToString(C), s.ServerErrors.ToString(C), Sent.ToString(C),
            Done.ToString(C), Errors.ToString(C), Cancelled.ToString(C), Disconnected.ToString(C), Closed.ToString(C), Lost.ToString(C), Open.ToString(C));
    }
}

/// <summary>soak.csv, written a row at a time so that a run cut short still leaves its samples.</summary>
internal sealed class SoakCsv
{
    private readonly string path;

    public SoakCsv(string path)
    {
        this.path = path;
        File.WriteAllText(path, SoakRow.CsvHeading + "\n");
    }

    public void Append(SoakRow row) => File.AppendAllText(path, row.ToCsv() + "\n");
}

/// <summary>Growth of one figure between the first sample after warm-up and the last sample under load.</summary>
public sealed record SoakGrowth(string Name, double First, double Last, bool Checked)
{
    public double Ratio => First > 0 ? (Last - First) / First : 0;
}

/// <summary>The soak's verdict and everything it rests on (summary.json).</summary>
public sealed class SoakResult
{
    private static readonly CultureInfo C = CultureInfo.InvariantCulture;

    public required IReadOnlyList<ServerSample> Samples { get; init; }

    public required IReadOnlyDictionary<string, KindTotals> Kinds { get; init; }

    public required IReadOnlyList<SoakGrowth> Growth { get; init; }

    /// <summary>Accepted, then ended with neither an answer nor an error.</summary>
    public long Lost { get; init; }

    /// <summary>Without an outcome when the hung grace period ended (including cancelled requests the server never ended).</summary>
    public int Hung { get; init; }

    public IReadOnlyList<string> HungRequests { get; init; } = [];

    public IReadOnlyList<string> LostDetails { get; init; } = [];

    /// <summary>Socket-door connections still open on the server after every soak client had closed.</summary>
    public int LeakedConnections { get; init; }

    public bool ServerCrashed { get; init; }

    /// <summary>The server's exit code after SIGTERM; null when it had to be killed.</summary>
    public int? ServerExitCode { get; init; }

    public IReadOnlyDictionary<string, int> OffSpec { get; init; } = new Dictionary<string, int>();

    /// <summary>Typed errors by lane and code (a status for HTTP), for reading the run: they are expected ends, not failures.</summary>
    public IReadOnlyDictionary<string, int> ErrorCodes { get; init; } = new Dictionary<string, int>();

    public required double MaxGrowth { get; init; }

    public required TimeSpan WarmUp { get; init; }

    public required string CsvPath { get; init; }

    public required string SummaryPath { get; init; }

    public IEnumerable<SoakGrowth> TooMuchGrowth => Growth.Where(g => g.Checked && g.Ratio > MaxGrowth);

    public bool Passed => Lost == 0 && Hung == 0 && LeakedConnections == 0 && !ServerCrashed && ServerExitCode == 0 && !TooMuchGrowth.Any();

    public int ExitCode => Passed ? 0 : 1;

    internal static SoakResult Judge(
        SoakSettings settings, List<ServerSample> samples, SoakLedger ledger, IReadOnlyList<(string Kind, TimeSpan Age)> hung, int unterminated,
        int leaked, bool crashed, int? exitCode, string csv, string summary)
    {
        var growth = new List<SoakGrowth>();
        // Samples are taken on a schedule (k × interval) and may come a few milliseconds early or late: half an
        // interval of tolerance keeps the sample due at the end of the warm-up as the baseline.
        var baseline = samples.FirstOrDefault(s => s.Elapsed + (settings.Interval / 2) >= settings.EffectiveWarmUp);
        if (baseline is not null && samples.Count > 0)
        {
            var last = samples[^1];
            growth.Add(new("rss", baseline.RssBytes, last.RssBytes, Checked: true));
            growth.Add(new("gc_heap", baseline.GcHeapBytes ?? 0, last.GcHeapBytes ?? 0, Checked: baseline.GcHeapBytes is not null && last.GcHeapBytes is not null));
            growth.Add(new("handles", baseline.Handles, last.Handles, Checked: true));
            growth.Add(new("threads", baseline.Threads, last.Threads, Checked: false));
            growth.Add(new("sockets", baseline.Sockets, last.Sockets, Checked: false));
        }

        var hungList = hung.Select(h => $"{h.Kind} open for {h.Age.TotalSeconds:F0} s").ToList();
        for (var i = 0; i < unterminated; i++)
        {
            hungList.Add("a request on a shared socket connection never got its terminal frame (cancelled or abandoned)");
        }

        return new SoakResult
        {
            Samples = samples,
            Kinds = ledger.Kinds.OrderBy(k => k.Key, StringComparer.Ordinal).ToDictionary(k => k.Key, k => KindTotals.From(k.Value), StringComparer.Ordinal),
            Growth = growth,
            Lost = ledger.Total(k => k.Lost),
            Hung = hungList.Count,
            HungRequests = hungList,
            LostDetails = [.. ledger.LostDetails],
            LeakedConnections = leaked,
            ServerCrashed = crashed,
            ServerExitCode = exitCode,
            ErrorCodes = ledger.ErrorCodes.OrderByDescending(k => k.Value).ThenBy(k => k.Key, StringComparer.Ordinal).ToDictionary(k => k.Key, k => k.Value, StringComparer.Ordinal),
            OffSpec = ledger.OffSpecAnswers.OrderBy(k => k.Key, StringComparer.Ordinal).ToDictionary(k => k.Key, k => k.Value, StringComparer.Ordinal),
            MaxGrowth = settings.MaxGrowth,
            WarmUp = settings.EffectiveWarmUp,
            CsvPath = csv,
            SummaryPath = summary,
        };
    }

    public string ToText()
    {
        var text = new StringBuilder();
        text.AppendLine();
        text.AppendLine("requests by kind (sent / done / errors / cancelled / disconnected / closed by server / lost):");
        foreach (var (kind, t) in Kinds)
        {
            text.AppendLine(string.Format(C, "  {0,-24} {1,7} {2,7} {3,7} {4,7} {5,7} {6,7} {7,5}", kind, t.Sent, t.Done, t.Errors, t.Cancelled, t.Disconnected, t.Closed, t.Lost));
        }

        text.AppendLine(C, $"growth after warm-up ({WarmUp.TotalSeconds:F0} s), first sample to last (limit {MaxGrowth:P0} for rss, gc heap, handles):");
        foreach (var g in Growth)
        {
            var figure = g.Name == "gc_heap" && !g.Checked ? "n/a (the server's /metrics does not export the GC heap)"
                : string.Format(C, "{0} -> {1} ({2:+0.0%;-0.0%;0.0%}){3}", Figure(g.Name, g.First), Figure(g.Name, g.Last), g.Ratio,
                    g.Checked ? (g.Ratio > MaxGrowth ? "  TOO MUCH" : "") : "  (reported, not judged)");
            text.AppendLine(C, $"  {g.Name,-8} {figure}");
        }

        if (Growth.Count == 0)
        {
            text.AppendLine("  no sample after warm-up: nothing to compare");
        }

        if (ErrorCodes.Count > 0)
        {
            text.AppendLine("typed errors by lane and code: " + string.Join(", ", ErrorCodes.Select(e => $"{e.Key} {e.Value}")));
        }

        foreach (var (what, count) in OffSpec)
        {
            text.AppendLine(C, $"off-spec answer ({count}×): {what}");
        }

        foreach (var detail in LostDetails.Take(10))
        {
            text.AppendLine(C, $"lost: {detail}");
        }

        foreach (var hung in HungRequests.Take(10))
        {
            text.AppendLine(C, $"hung: {hung}");
        }

        text.AppendLine(C, $"lost {Lost}, hung {Hung}, connections left open {LeakedConnections}, server {(ServerCrashed ? "crashed" : $"exit code {ServerExitCode?.ToString(C) ?? "none (killed)"}")} after SIGTERM");
        text.AppendLine(C, $"soak {(Passed ? "PASSED" : "FAILED")}; samples in {CsvPath}, summary in {SummaryPath}");
        return text.ToString();
    }

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteBoolean("passed", Passed);
            json.WriteNumber("lost", Lost);
            json.WriteNumber("hung", Hung);
            json.WriteNumber("leaked_connections", LeakedConnections);
            json.WriteBoolean("server_crashed", ServerCrashed);
            if (ServerExitCode is { } code)
            {
                json.WriteNumber("server_exit_code", code);
            }
            else
            {
                json.WriteNull("server_exit_code");
            }

            json.WriteNumber("warm_up_s", WarmUp.TotalSeconds);
            json.WriteNumber("max_growth", MaxGrowth);
            json.WriteStartObject("growth");
            foreach (var g in Growth)
            {
                json.WriteStartObject(g.Name);
                json.WriteNumber("first", g.First);
                json.WriteNumber("last", g.Last);
                json.WriteNumber("ratio", g.Ratio);
                json.WriteBoolean("judged", g.Checked);
                json.WriteEndObject();
            }

            json.WriteEndObject();
            json.WriteStartObject("kinds");
            foreach (var (kind, t) in Kinds)
            {
                json.WriteStartObject(kind);
                json.WriteNumber("sent", t.Sent);
                json.WriteNumber("done", t.Done);
                json.WriteNumber("errors", t.Errors);
                json.WriteNumber("cancelled", t.Cancelled);
                json.WriteNumber("disconnected", t.Disconnected);
                json.WriteNumber("closed", t.Closed);
                json.WriteNumber("lost", t.Lost);
                json.WriteEndObject();
            }

            json.WriteEndObject();
            WriteStrings(json, "hung_requests", HungRequests);
            WriteStrings(json, "lost_details", LostDetails);
            json.WriteStartObject("errors_by_code");
            foreach (var (what, count) in ErrorCodes)
            {
                json.WriteNumber(what, count);
            }

            json.WriteEndObject();
            json.WriteStartObject("off_spec");
            foreach (var (what, count) in OffSpec)
            {
                json.WriteNumber(what, count);
            }

            json.WriteEndObject();
            json.WriteNumber("samples", Samples.Count);
            json.WriteString("csv", CsvPath);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void WriteStrings(Utf8JsonWriter json, string name, IEnumerable<string> values)
    {
        json.WriteStartArray(name);
        foreach (var value in values)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
    }

    private static string Figure(string name, double value) =>
        name is "rss" or "gc_heap" ? SoakRunner.Mb((long)value) + " MB" : value.ToString("F0", C);
}

/// <summary>Final counts of one kind of request.</summary>
public sealed record KindTotals(long Sent, long Done, long Errors, long Cancelled, long Disconnected, long Closed, long Lost)
{
    internal static KindTotals From(KindCounts k) => new(k.Sent, k.Done, k.Errors, k.Cancelled, k.Disconnected, k.ClosedByServer, k.Lost);
}
