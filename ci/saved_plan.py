"""Whether a saved Terraform plan changes the stack's outputs (`ci plan-outputs`).

`<env>-databricks` reads `<env>-azure`'s outputs through its remote state, and reads them when it is
planned. The deploy job applies both saved plans in order; if the azure plan changed an output (a new
workspace URL), the databricks plan holds the old value, and applying it would apply a plan nobody made
against what is now there. So between the two applies the deploy job asks the azure plan, already
applied, whether it changed an output: if it did, the databricks plan is not applied and the next run
plans it against the new outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path


class PlanUnreadable(Exception):
    """terraform could not show the saved plan (missing file, folder not initialized)."""


@dataclass(frozen=True)
class OutputChange:
    name: str
    actions: tuple[str, ...]


def output_changes(plan_json: dict) -> list[OutputChange]:
    """The outputs a plan (`terraform show -json`) changes: every action but no-op."""
    changes = []
    for name, change in sorted((plan_json.get("output_changes") or {}).items()):
        actions = tuple(change.get("actions") or ())
        if actions != ("no-op",):
            changes.append(OutputChange(name, actions))
    return changes


def show(stack: Path, plan_file: str, terraform: str = "terraform") -> dict:
    try:
        completed = subprocess.run([terraform, f"-chdir={stack}", "show", "-json", plan_file], capture_output=True,
                                   text=True, check=False, timeout=300, env=dict(os.environ))
    except FileNotFoundError as exc:
        raise PlanUnreadable(f"{terraform}: not found") from exc
    if completed.returncode != 0:
        reason = (completed.stderr or completed.stdout).strip().splitlines()
        raise PlanUnreadable(f"terraform show {stack}/{plan_file}: {reason[-1] if reason else 'failed'}")
    try:
        return json.loads(completed.stdout)
    except json.JSONDecodeError as exc:
        raise PlanUnreadable(f"terraform show {stack}/{plan_file}: not JSON ({exc})") from exc
