"""Guardrails over the typed model: rules (rule.py, rules_*.py), the packs that list them (packs.py), the runner."""
