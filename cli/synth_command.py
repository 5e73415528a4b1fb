"""`synth` (what `cdktf synth` runs): guardrails, then only the stacks whose inputs changed.

The no-change path is checked first and imports neither the model nor jsii: when every input file is as it
was at the last full synth and that synth's guardrail verdict still holds today (no waiver has expired
since), the output is current and the command says so. Otherwise the jsii import starts in the background
(its ~3 s are the floor of any synth) while the YAML is loaded and checked.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from . import exit_codes, output

DEFAULT_OUT = "cdktf.out"


def output_dir(args) -> Path:
    """--out, else the folder the cdktf/cdktn CLI passes (CDKTF_OUTDIR), else cdktf.out."""
    return Path(args.out or os.environ.get("CDKTF_OUTDIR") or DEFAULT_OUT)


def cmd_synth(args) -> int:
    from lakegate.infra.synth_inputs import raw_digest, read_state
    from lakegate.infra.synth_output import check_output_dir

    out = output_dir(args)
    check_output_dir(out.absolute())  # OutputRefused: exit 6 (cli/failures.py), nothing touched
    definitions = Path(args.environments)
    digest = raw_digest(definitions) if definitions.is_dir() else None
    previous = read_state(out) if (out / "manifest.json").is_file() else {}
    if digest is not None and previous.get("inputs") == digest and _verdict_holds(previous.get("guardrails")):
        return _report_unchanged(args, out, previous)

    from lakegate.infra.preload import preload_bindings

    preload_bindings()  # overlaps the YAML loading and the guardrails below
    return _synthesize(args, out, definitions, digest)


def _verdict_holds(verdict) -> bool:
    if not isinstance(verdict, dict) or not verdict.get("passed"):
        return False
    valid_through = verdict.get("valid_through")
    return valid_through is None or date.today().isoformat() <= valid_through


def _synthesize(args, out: Path, definitions: Path, digest: str | None) -> int:
    from lakegate.infra.guardrails.runner import check_environments
    from lakegate.infra.synth import synthesize

    from .infra_commands import load_selected, refuse, resource_counts
    from .presenters import print_guardrails

    loaded = load_selected(args)
    if loaded is None:
        return exit_codes.INVALID_DEFINITIONS
    envs, only = loaded
    report = check_environments(envs, only=only)
    if not report.passed:
        # Refuse before writing anything: the output keeps what it had.
        if args.json:
            output.emit_json({"ok": False, "findings": [f.as_dict() for f in report.findings]})
        else:
            print_guardrails(report)
        return refuse(report)
    verdict = {"passed": True, "rules_run": report.rules_run, "waived": len(report.waived),
               "warnings": len(report.warnings), "valid_through": _valid_through(envs)}
    # Only a synth of every environment makes the whole output current for these exact inputs.
    state = {"guardrails": verdict, "inputs": digest if not only else None}
    result = synthesize(envs, out, only=only, definitions=definitions, state=state)
    summary = {name: dict(sorted(resource_counts(js).items())) for name, js in result.stacks.items()}
    if args.json:
        output.emit_json({"ok": True, "outdir": str(result.outdir), "changed": bool(result.rebuilt),
                          "rebuilt": result.rebuilt, "reused": result.reused, "stacks": summary,
                          "findings": [f.as_dict() for f in report.findings]})
        return exit_codes.OK
    rows = [[name, "rebuilt" if name in result.rebuilt else "unchanged", sum(counts.values()),
             ", ".join(f"{t.split('_', 1)[-1]}×{n}" for t, n in counts.items())] for name, counts in summary.items()]
    title = (f"Synthesized into {result.outdir}: {len(result.rebuilt)} stack(s) rebuilt, "
             f"{len(result.reused)} unchanged (byte-identical)")
    output.console.print(output.table(title, ["stack", "", "resources", "by type"], rows))
    print_guardrails(report)
    return exit_codes.OK


def _valid_through(envs) -> str | None:
    """The last day the guardrail verdict holds without re-checking: the day before a waiver expires."""
    expiries = [w.expires for env in envs for w in env.waivers if w.expires is not None and w.expires >= date.today()]
    return min(expiries).isoformat() if expiries else None


def _report_unchanged(args, out: Path, previous: dict) -> int:
    stacks = {}
    for path in sorted((out / "stacks").glob("*/cdk.tf.json")):
        resources = json.loads(path.read_text()).get("resource", {})
        stacks[path.parent.name] = {kind: len(items) for kind, items in sorted(resources.items())}
    verdict = previous["guardrails"]
    if args.json:
        output.emit_json({"ok": True, "outdir": str(out.absolute()), "changed": False, "rebuilt": [],
                          "reused": sorted(stacks), "stacks": stacks, "guardrails": verdict})
        return exit_codes.OK
    output.console.print(f"No change: the {len(stacks)} stacks in {out} are current for these definitions and "
                         f"this code (nothing synthesized, nothing written).")
    output.console.print(f"Guardrails: {verdict['rules_run']} rules, 0 violation(s), {verdict['waived']} waived, "
                         f"{verdict['warnings']} warning(s) at the last synth; run `check` for the findings.")
    return exit_codes.OK
