"""Reports for auditors: access matrix, differences between environments, guardrail results, history."""
