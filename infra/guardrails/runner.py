"""Run a pack of rules (the default pack unless told) over every environment, apply waivers, fail closed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Iterable

from ..model import Environment, Environments
from ..model.promotion import Waiver
from ..source_map import format_path
from .packs import DEFAULT
from .rule import Hit, Rule


@dataclass(frozen=True)
class Finding:
    rule_id: str
    env: str
    subject: str                # what is wrong, e.g. "cluster=adhoc"; "" for the environment as a whole
    level: str
    info: str
    location: str               # file:line of the offending field (or waiver); the file's first line at worst
    waiver: Waiver | None = None
    field_path: str = ""        # the field behind `location` (`compute.clusters[0]`); "" when derived or whole

    @property
    def tag(self) -> str:
        return f"{self.rule_id}[{self.subject}]" if self.subject else self.rule_id

    @property
    def status(self) -> str:
        if self.waiver is not None:
            return "waived"
        return "violation" if self.level == "error" else "warning"

    def __str__(self) -> str:
        text = f"{self.location}: {self.tag}: {self.info}"
        if self.waiver is not None:
            text += f" (waived by {self.waiver.approved_by}: {self.waiver.reason})"
        return text

    def as_dict(self) -> dict:
        data = {"rule": self.rule_id, "environment": self.env, "subject": self.subject, "level": self.level,
                "status": self.status, "info": self.info, "location": self.location, "field": self.field_path}
        if self.waiver is not None:
            data["waiver"] = self.waiver.model_dump(mode="json")
        return data


@dataclass
class GuardrailReport:
    findings: list[Finding] = field(default_factory=list)
    rules_run: int = 0

    @property
    def violations(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "violation"]

    @property
    def waived(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "waived"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "warning"]

    @property
    def passed(self) -> bool:
        return not self.violations


WAIVER_EXPIRED = "LG-WAIVER-001"
WAIVER_UNUSED = "LG-WAIVER-002"
# Rules about the waivers themselves (checked by the runner, not per environment rule): level, info, why.
META_RULES = {
    WAIVER_EXPIRED: ("error", "a waiver has expired",
                     "An accepted risk is accepted for a time; after its date the finding counts again until "
                     "someone renews the waiver or fixes the cause."),
    WAIVER_UNUSED: ("warning", "a waiver matches no finding (error when it names an unknown rule)",
                    "A waiver that waives nothing hides nothing today but would silently waive a future finding; "
                    "remove it."),
}


def _run_rule(rule: Rule, env: Environment, envs: Environments) -> list[tuple[Hit, str]]:
    """(hit, info) pairs. A rule that raises is a violation of that rule: fail closed."""
    if rule.production_only and not env.production:
        return []
    try:
        return [(hit if isinstance(hit, Hit) else Hit(str(hit)), rule.info) for hit in rule.check(env, envs)]
    except Exception as exc:  # noqa: BLE001 - any crash of a rule must count against it
        return [(Hit("rule-error"), f"the rule raised {type(exc).__name__}: {exc}")]


_ORIGIN_LOCATION = re.compile(r"([^\s()]+\.ya?ml:\d+)\)?$")


def locate_hit(env: Environment, hit: Hit) -> tuple[str, str]:
    """(file:line, field path) of a hit: its field's own line, or the file:line its origin names."""
    if hit.origin is not None:
        found = _ORIGIN_LOCATION.search(hit.origin.strip())
        return (found.group(1) if found else env.locate()), ""
    return env.locate(*hit.field), format_path(hit.field)


def _matching_waiver(env: Environment, rule_id: str, subject: str, today: date) -> tuple[Waiver | None, int | None]:
    for index, waiver in enumerate(env.waivers):
        if waiver.id == rule_id and waiver.applies_to in (None, subject):
            if waiver.expires is not None and waiver.expires < today:
                continue
            return waiver, index
    return None, None


def check_environments(envs: Environments, today: date | None = None, only: list[str] | None = None,
                       rules: Iterable[Rule] = DEFAULT) -> GuardrailReport:
    """Findings of `rules` (a pack, or any list of rules) over `envs` (or only the environments named)."""
    today = today or date.today()
    rules = list(rules)
    report = GuardrailReport(rules_run=len(rules))
    ran = {r.id for r in rules}
    for env in envs:
        if only and env.name not in only:
            continue
        used: set[int] = set()
        for rule in rules:
            for hit, info in _run_rule(rule, env, envs):
                waiver, index = _matching_waiver(env, rule.id, hit.subject, today)
                if index is not None:
                    used.add(index)
                location, field_path = locate_hit(env, hit)
                report.findings.append(Finding(rule.id, env.name, hit.subject, rule.level, info, location, waiver,
                                               field_path))
        report.findings += _waiver_findings(env, used, today, ran)
    return report


def _waiver_findings(env: Environment, used: set[int], today: date, ran: set[str]) -> list[Finding]:
    """Expired waivers are errors; waivers that match nothing are warnings (they hide nothing, but rot). A waiver
    of a rule outside the pack run (a known rule: DEFAULT lists them all) cannot be judged unused."""
    findings = []
    for index, waiver in enumerate(env.waivers):
        where = env.locate("waivers", index)
        if waiver.id not in ran | DEFAULT.ids:
            findings.append(Finding(WAIVER_UNUSED, env.name, f"waiver={waiver.id}", "error",
                                    f"waiver names unknown rule {waiver.id}", where, field_path=f"waivers[{index}]"))
        elif waiver.expires is not None and waiver.expires < today:
            findings.append(Finding(WAIVER_EXPIRED, env.name, f"waiver={waiver.id}", "error",
                                    f"waiver expired on {waiver.expires.isoformat()}; renew it or fix the finding", where,
                                    field_path=f"waivers[{index}]"))
        elif index not in used and waiver.id in ran:
            findings.append(Finding(WAIVER_UNUSED, env.name, f"waiver={waiver.id}", "warning",
                                    "waiver matches no finding; remove it", where, field_path=f"waivers[{index}]"))
    return findings
