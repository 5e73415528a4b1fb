"""Guardrail rules over the typed model (see registry.py for the form of a rule)."""
