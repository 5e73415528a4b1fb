"""Differences between two environments, field by field (what an auditor checks before a promotion)."""

from __future__ import annotations

from lakegate.infra.model import Environment


def _flatten(value, prefix: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        flat = {}
        for key, item in value.items():
            flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return flat or {prefix: {}}
    if isinstance(value, list) and value and all(isinstance(i, dict) for i in value):
        flat = {}
        for index, item in enumerate(value):
            label = item.get("name") or item.get("id") or item.get("principal") or index
            if "principal" in item and "on" in item:
                label = f"{item['principal']} on {item['on']['type']} {item['on']['name']}"
            flat.update(_flatten(item, f"{prefix}[{label}]"))
        return flat
    return {prefix: value}


def environment_diff(left: Environment, right: Environment) -> list[dict]:
    a, b = _flatten(left.model_dump(mode="json", by_alias=True)), _flatten(right.model_dump(mode="json", by_alias=True))
    rows = []
    for path in sorted(set(a) | set(b)):
        if a.get(path, "<absent>") != b.get(path, "<absent>"):
            rows.append({"field": path, left.name: a.get(path, "<absent>"), right.name: b.get(path, "<absent>")})
    return rows
