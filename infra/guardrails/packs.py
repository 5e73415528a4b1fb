"""Guardrail packs, the cdk-nag way: a pack lists the rules it runs; DEFAULT (every rule) is what the CLI runs.

A rule runs only when a pack lists it, so a new rule is added to its area's pack here (a test fails when a rule
of rules_*.py is in no pack). `check_environments(envs, rules=…)` takes any pack or list of rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from . import rules_access as access, rules_azure as azure, rules_ci as ci, rules_databricks as databricks
from .rule import Rule


@dataclass(frozen=True)
class Pack:
    """A named set of rules, in id order; an id appears once."""
    name: str
    rules: tuple[Rule, ...]

    def __post_init__(self) -> None:
        ids = [r.id for r in self.rules]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"pack {self.name} lists rule id {', '.join(repeated)} more than once")
        object.__setattr__(self, "rules", tuple(sorted(self.rules, key=lambda r: r.id)))

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(r.id for r in self.rules)

    def __iter__(self) -> Iterator[Rule]:
        return iter(self.rules)

    def __len__(self) -> int:
        return len(self.rules)


AZURE = Pack("azure", (
    azure.prod_remote_state, azure.prod_no_public_ip, azure.prod_premium, azure.prod_vnet_injection,
    azure.prod_log_analytics, azure.storage_no_public_blobs, azure.storage_tls, azure.prod_storage_private,
    azure.mandatory_tags,
))
DATABRICKS = Pack("databricks", (
    databricks.prod_no_all_purpose, databricks.prod_no_human_writers, databricks.prod_no_scale_to_zero,
    databricks.prod_no_account_users, databricks.service_principal_writes_own_catalog,
    databricks.compute_auto_terminates, databricks.runtime_matches_tested_spark,
    databricks.job_runs_as_service_principal,
    databricks.job_tasks_exist_in_repository, databricks.job_parameters_typed, databricks.serving_by_key_is_published,
))
ACCESS = Pack("access", (access.principal_confined_to_environment, access.binding_waits_for_workspace_id,
                         access.holdout_unreadable_by_upstream_writers, access.prod_models_need_approval))
CI = Pack("ci", (ci.production_github_environment, ci.own_ci_subject))

DEFAULT = Pack("default", AZURE.rules + DATABRICKS.rules + ACCESS.rules + CI.rules)
