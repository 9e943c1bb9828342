namespace ModelRouter.Cluster;

/// <summary>How cluster membership is kept: which Orleans clustering provider.</summary>
public enum ClusterProvider
{
    /// <summary>Orleans' development clustering: every node names the first one (<see cref="ClusterSettings.PrimaryNode"/>), which keeps the table. Loopback demos and tests only: the cluster does not outlive that node.</summary>
    Localhost,

    /// <summary>Orleans' Redis membership table (<see cref="ClusterSettings.Redis"/>): for real deployments.</summary>
    Redis,
}

/// <summary>How a node picks the node that runs a request.</summary>
public enum ClusterPolicy
{
    /// <summary>The residency-aware <see cref="ClusterRouter"/>: the model's device, then host RAM, then the least loaded. The policy to deploy.</summary>
    ResidencyAware,

    /// <summary>Each request to the next node in turn, whatever it holds (a plain load balancer): for comparisons.</summary>
    RoundRobin,

    /// <summary>Each model always on one node (the sorted models dealt out over the sorted nodes): for comparisons.</summary>
    StaticPartition,
}

/// <summary>
/// The <c>ModelRouter:Cluster</c> configuration section. Off by default: a server that does not ask to join a cluster
/// starts no silo, opens no port and behaves exactly as a single box.
/// </summary>
public sealed class ClusterSettings
{
    public const string SectionName = "ModelRouter:Cluster";

    public bool Enabled { get; set; }

    public ClusterProvider Provider { get; set; } = ClusterProvider.Localhost;

    /// <summary>How requests are placed; the baselines exist so that the demo compares them on live nodes.</summary>
    public ClusterPolicy Policy { get; set; } = ClusterPolicy.ResidencyAware;

    /// <summary>StackExchange.Redis connection string of the membership table (Provider = Redis).</summary>
    public string? Redis { get; set; }

    /// <summary>Nodes with the same cluster id see each other.</summary>
    public string ClusterId { get; set; } = "modelrouter";

    public string ServiceId { get; set; } = "modelrouter";

    /// <summary>This node's name in the directory, in routing decisions and in a request's stats; the machine name and silo port by default.</summary>
    public string? NodeName { get; set; }

    /// <summary>Address the silo listens on and advertises (loopback by default: set the host's address across machines).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1";

    public int SiloPort { get; set; } = 11111;

    public int GatewayPort { get; set; } = 30000;

    /// <summary>Provider = Localhost: the silo endpoint (host:port) of the node that keeps the table; empty on that node itself.</summary>
    public string? PrimaryNode { get; set; }

    /// <summary>
    /// Where other nodes forward requests to this node: its socket door (host:port), as reachable from them. A node
    /// without one serves what reaches it but is never forwarded to.
    /// </summary>
    public string? ForwardEndpoint { get; set; }

    /// <summary>
    /// The token this node presents to the others' socket doors when it forwards (their <c>ModelRouter:AuthToken</c>);
    /// by default this node's own <c>AuthToken</c>, since the nodes of one cluster usually share their configuration.
    /// </summary>
    public string? ForwardToken { get; set; }

    /// <summary>How long a forward may take to connect to another node before the request is served here instead.</summary>
    public int ForwardConnectTimeoutMs { get; set; } = 2000;

    /// <summary>
    /// How long a forwarded request may wait for its first token from the other node (its queue, swap and prompt there)
    /// before it is cancelled there and served here instead: a hung node, or one far busier than its directory entry
    /// said, must not hold a request without bound.
    /// </summary>
    public int ForwardFirstTokenTimeoutMs { get; set; } = 15_000;

    /// <summary>How often this node publishes its residency and refreshes its view of everyone else's.</summary>
    public int PublishIntervalMs { get; set; } = 500;

    /// <summary>
    /// Membership: how long a node may miss its probes before the others declare it dead (Orleans'
    /// ProbeTimeout x NumMissedProbesLimit). Short on loopback, where a dead node's port refuses at once.
    /// </summary>
    public int ProbeTimeoutMs { get; set; } = 1000;

    public int MissedProbesLimit { get; set; } = 3;

    /// <summary>
    /// Host memory (MB) this node gives its host tier under the cluster's placement (<see cref="HostPlacement"/>): the
    /// node keeps the models placed on it there, reads them ahead of demand, and releases the others' copies. 0 (the
    /// default) sets no bound: the node keeps every model it loads, as a single box does, and takes no placement.
    /// </summary>
    public int HostBudgetMb { get; set; }

    /// <summary>How often a node with a host budget computes the placement from its view and applies its part.</summary>
    public int PlacementIntervalMs { get; set; } = 2000;

    /// <summary>
    /// How many placements in a row must agree before this node acts on a model: reads it into its host tier, or
    /// releases its copy (hysteresis: a plan that changes for a moment, while nodes join or models load, moves nothing).
    /// </summary>
    public int ActAfterPlacements { get; set; } = 2;

    public long HostBudgetBytes => (long)HostBudgetMb << 20;

    public TimeSpan PlacementInterval => TimeSpan.FromMilliseconds(PlacementIntervalMs);

    /// <summary>The directory's staleness bound: an entry older than this many publish intervals is dropped.</summary>
    public int EntryLifetimeIntervals { get; set; } = 4;

    public TimeSpan PublishInterval => TimeSpan.FromMilliseconds(PublishIntervalMs);

    public TimeSpan EntryLifetime => PublishInterval * EntryLifetimeIntervals;

    public string ResolvedNodeName => string.IsNullOrWhiteSpace(NodeName) ? $"{Environment.MachineName}:{SiloPort}" : NodeName;

    /// <summary>Every problem with these settings, or none (checked at start, all at once).</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        if (!Enabled)
        {
            return problems;
        }

        if (Provider == ClusterProvider.Redis && string.IsNullOrWhiteSpace(Redis))
        {
            problems.Add($"{SectionName}:Redis: the Redis provider needs a connection string (e.g. localhost:6379).");
        }

        if (SiloPort is < 1 or > 65535 || GatewayPort is < 1 or > 65535 || SiloPort == GatewayPort)
        {
            problems.Add($"{SectionName}:SiloPort/GatewayPort: two different ports in 1-65535 (got {SiloPort} and {GatewayPort}).");
        }

        if (!System.Net.IPAddress.TryParse(AdvertisedAddress, out _))
        {
            problems.Add($"{SectionName}:AdvertisedAddress: an IP address (got '{AdvertisedAddress}').");
        }

        if (!string.IsNullOrWhiteSpace(PrimaryNode) && !System.Net.IPEndPoint.TryParse(PrimaryNode, out _))
        {
            problems.Add($"{SectionName}:PrimaryNode: host:port of the first node's silo (got '{PrimaryNode}').");
        }

        if (!string.IsNullOrWhiteSpace(ForwardEndpoint) && !TryParseEndpoint(ForwardEndpoint, out _))
        {
            problems.Add($"{SectionName}:ForwardEndpoint: host:port of this node's socket door (got '{ForwardEndpoint}').");
        }

        if (ForwardConnectTimeoutMs is < 50 or > 60_000)
        {
            problems.Add($"{SectionName}:ForwardConnectTimeoutMs: 50-60000 (got {ForwardConnectTimeoutMs}).");
        }

        if (ForwardFirstTokenTimeoutMs is < 100 or > 600_000)
        {
            problems.Add($"{SectionName}:ForwardFirstTokenTimeoutMs: 100-600000 (got {ForwardFirstTokenTimeoutMs}).");
        }

        if (PublishIntervalMs is < 50 or > 60_000)
        {
            problems.Add($"{SectionName}:PublishIntervalMs: 50-60000 (got {PublishIntervalMs}).");
        }

        if (EntryLifetimeIntervals < 2)
        {
            problems.Add($"{SectionName}:EntryLifetimeIntervals: at least 2, or one late publish drops a live node (got {EntryLifetimeIntervals}).");
        }

        if (HostBudgetMb < 0 || PlacementIntervalMs is < 100 or > 600_000 || ActAfterPlacements < 1)
        {
            problems.Add($"{SectionName}:HostBudgetMb/PlacementIntervalMs/ActAfterPlacements: at least 0 MB, 100-600000 ms and 1 (got {HostBudgetMb}, {PlacementIntervalMs} and {ActAfterPlacements}).");
        }

        if (ProbeTimeoutMs < 100 || MissedProbesLimit < 1)
        {
            problems.Add($"{SectionName}:ProbeTimeoutMs/MissedProbesLimit: at least 100 ms and 1 (got {ProbeTimeoutMs} and {MissedProbesLimit}).");
        }

        return problems;
    }

    /// <summary>host:port as an endpoint: an IP address (v6 in brackets) or a host name, and a port in 1-65535.</summary>
    internal static bool TryParseEndpoint(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out System.Net.EndPoint? endpoint)
    {
        endpoint = null;
        if (System.Net.IPEndPoint.TryParse(text, out var ip))
        {
            endpoint = ip.Port is > 0 ? ip : null;
            return endpoint is not null;
        }

        var colon = text.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535 || System.Uri.CheckHostName(text[..colon]) == System.UriHostNameType.Unknown)
        {
            return false;
        }

        endpoint = new System.Net.DnsEndPoint(text[..colon], port);
        return true;
    }
}
