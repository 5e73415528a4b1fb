"""Guardrails over the Databricks layer."""
