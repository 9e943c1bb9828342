using System.Text;

namespace ModelRouter.Routing.Policies;

/// <summary>A policy's choice (null when nothing qualifies) with every candidate it considered and why.</summary>
public sealed record PolicyDecision(string Policy, string? Model, IReadOnlyList<CandidateVerdict> Candidates)
{
    /// <summary>One line per candidate: the choice first, then the others with their reasons.</summary>
    public string Explain()
    {
        var text = new StringBuilder();
        text.Append(Policy).Append(": ").Append(Model is null ? "no model qualifies" : "chose " + Model).Append('\n');
        foreach (var c in Candidates)
        {
            text.Append("  ").Append(c.Model == Model ? "* " : c.Accepted ? "+ " : "- ").Append(c.Model).Append(": ").Append(c.Reason).Append('\n');
        }

        return text.ToString();
    }
}
