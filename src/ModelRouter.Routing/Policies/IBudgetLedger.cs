namespace ModelRouter.Routing.Policies;

/// <summary>Per-user spending limits the cost policy checks (the server keeps the ledger).</summary>
public interface IBudgetLedger
{
    /// <summary>What <paramref name="user"/> may still spend, or null for no limit.</summary>
    double? Remaining(string user);
}
