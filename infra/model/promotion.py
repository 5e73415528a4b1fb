"""How models reach this environment: the only allowed source, the gates, approval and credentials."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date
from typing import Annotated, Literal, Union

from pydantic import Field, field_validator, model_validator

from .base import EnvName, Strict
from .metrics import ALL_METRICS, HIGHER_IS_BETTER
from ..suggest import did_you_mean


class _Gate(Strict):
    id: str | None = Field(None, description="Gate id shown in results; default `<type>` (+ metric).")

    @property
    def gate_id(self) -> str:
        return self.id or self.type  # type: ignore[attr-defined]


# What a target computes on its validation table (pipelines/evaluation.py): the metric gates accept these (the
# model's task type narrows them: infra/model/models.py).
EVALUATED_METRICS = ALL_METRICS


def _evaluated(value: str) -> str:
    if value not in EVALUATED_METRICS:
        raise ValueError(f"metric '{value}' is not one the target computes (one of {', '.join(EVALUATED_METRICS)})"
                         f"{did_you_mean(value, EVALUATED_METRICS)}")
    return value


class MetricThresholdGate(_Gate):
    type: Literal["metric_threshold"]
    metric: str = Field(description="Metric this environment computes on its own validation table "
                                    "(`promotion.evaluation`): accuracy, f1, precision, recall, roc_auc for a "
                                    "classification; rmse, mae, r2 for a regression. The source's logged figure is "
                                    "shown beside it, never used.")
    min: float | None = Field(None, description="Lowest accepted value.")
    max: float | None = Field(None, description="Highest accepted value.")

    _known_metric = field_validator("metric")(classmethod(lambda cls, value: _evaluated(value)))

    @model_validator(mode="after")
    def _a_bound(self) -> "MetricThresholdGate":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self

    @property
    def gate_id(self) -> str:
        return self.id or f"metric_threshold:{self.metric}"


class ChampionComparisonGate(_Gate):
    type: Literal["no_regression"]
    metric: str = Field(description="Metric compared with the current champion's, both computed by this environment on "
                                    "its validation table (the same rows, the same moment).")
    tolerance: float = Field(0.0, ge=0, description="How much worse than the champion is still accepted (the "
                             "metric's own direction decides what worse is: lower rmse and mae, higher the rest).")

    _known_metric = field_validator("metric")(classmethod(lambda cls, value: _evaluated(value)))

    @property
    def gate_id(self) -> str:
        return self.id or f"no_regression:{self.metric}"

    @property
    def higher_is_better(self) -> bool:
        return HIGHER_IS_BETTER[self.metric]


class SignatureGate(_Gate):
    type: Literal["signature"]


class RequiredTagsGate(_Gate):
    type: Literal["required_tags"]
    tags: list[str] = Field(min_length=1, description="Tags the version must carry (compliance).")


class SmokeInferenceGate(_Gate):
    type: Literal["smoke_inference"]


class ServingSmokeGate(_Gate):
    type: Literal["serving_smoke"]


class ApprovalGate(_Gate):
    type: Literal["approval"]


class LineageGate(_Gate):
    """Implied wherever models are promoted into (an environment with `promotion.from`); listing it places it."""

    type: Literal["lineage"]


Gate = Annotated[
    Union[MetricThresholdGate, ChampionComparisonGate, SignatureGate, RequiredTagsGate, SmokeInferenceGate,
          ServingSmokeGate, ApprovalGate, LineageGate],
    Field(discriminator="type"),
]


class Evaluation(Strict):
    """Where this environment judges candidates: its own labelled hold-out, read as its own principal."""

    table: str = Field(
        "features.{model}_validation", pattern=r"^[a-z{][a-z0-9_{}]*\.[a-z{][a-z0-9_{}]*$",
        description="Labelled hold-out (`schema.table` in this environment's catalog; `{model}` becomes the model's "
                    "name; quote it in YAML: `\"features.{model}_validation\"`) the metric gates evaluate the candidate "
                    "and the champion on, unless a model names its own (`models.<name>.evaluation.table`); the "
                    "model's feature-refresh job writes it. Without it the metric gates fail closed.")

    def table_for(self, model: str) -> str:
        return self.table.replace("{model}", model)


# Public-key types `ssh-keygen -Y verify` accepts in an allowed_signers file (security keys included).
_SSH_KEY_TYPES = ("ssh-ed25519", "sk-ssh-ed25519@openssh.com", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                  "ecdsa-sha2-nistp521", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-rsa")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


class Signer(Strict):
    """One enrolled approver: who they are and the public half of the key they sign approvals with."""

    identity: str = Field(description="The approver's e-mail, as listed in `principals.groups.<name>.members` "
                                      "(plain ASCII: look-alike characters are refused).")
    key: str = Field(description="Public key in allowed_signers / authorized_keys form, e.g. `ssh-ed25519 AAAA...` "
                                 "(never a private key).")
    github: str | None = Field(None, description="The approver's GitHub login, for approvals given in a GitHub "
                                                 "environment's protection rule (`approve --ci github`).")
    azure_devops: str | None = Field(None, description="The approver's Azure DevOps unique name (usually the e-mail), "
                                                       "for approvals given in an Azure DevOps environment check.")

    @field_validator("identity")
    @classmethod
    def _plain_email(cls, value: str) -> str:
        if not value.isascii() or not value.isprintable() or not _EMAIL.fullmatch(value):
            raise ValueError(f"{value!r} is not a plain ASCII e-mail address")
        return value

    @field_validator("key")
    @classmethod
    def _public_key(cls, value: str) -> str:
        if "PRIVATE KEY" in value:
            raise ValueError("this is a private key: enrol the public half only (the `.pub` file)")
        parts = value.strip().split()
        if len(parts) < 2 or parts[0] not in _SSH_KEY_TYPES:
            raise ValueError(f"not an SSH public key (`<type> <base64> [comment]`, type one of {', '.join(_SSH_KEY_TYPES)})")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the key's base64 part does not decode") from None
        length = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else -1
        if blob[4:4 + length].decode("ascii", "replace") != parts[0]:
            raise ValueError(f"the key's data is not a {parts[0]} key")
        return f"{parts[0]} {parts[1]}"  # the comment is not part of the key

    @field_validator("github")
    @classmethod
    def _github_login(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})", value):
            raise ValueError(f"{value!r} is not a GitHub login")
        return value

    @field_validator("azure_devops")
    @classmethod
    def _ado_name(cls, value: str | None) -> str | None:
        if value is not None and (not value.isascii() or not value.isprintable() or not value.strip()):
            raise ValueError(f"{value!r} is not a plain ASCII Azure DevOps unique name")
        return value


class CiApprovals(Strict):
    """Where approvals given in the CI platform are verified (the API is trusted: see README, Approvals)."""

    github_api: str = Field("https://api.github.com", description="GitHub REST API the `--ci github` path asks "
                            "(GitHub Enterprise Server: `https://HOST/api/v3`); GITHUB_API_URL must match it.")
    azure_devops_api: str = Field("https://dev.azure.com", description="Azure DevOps REST API base the "
                                  "`--ci azure-devops` path asks (the organization and project come from "
                                  "`principals.service_principal.ci_oidc.azure_devops`).")

    @field_validator("github_api", "azure_devops_api")
    @classmethod
    def _https(cls, value: str) -> str:
        if not re.fullmatch(r"https://[^\s/]+(/[^\s]*)?|http://(127\.0\.0\.1|localhost)(:\d+)?(/[^\s]*)?", value):
            raise ValueError(f"{value!r} is not an https URL (plain http only for 127.0.0.1 test stubs)")
        return value.rstrip("/")


class Approval(Strict):
    required: bool = Field(False, description="A person must approve before champion moves.")
    approvers: list[str] = Field(default_factory=list, description="Groups whose members may approve (empty: any "
                                 "enrolled person who is not a service principal).")
    signers: list[Signer] = Field(default_factory=list, description="Enrolled approvers: identity, public key and CI "
                                  "logins. An approval counts only when signed by one of these keys (or given "
                                  "in CI by one of these logins).")
    ci: CiApprovals = Field(default_factory=CiApprovals, description="CI platform APIs that verify `approve --ci`.")

    @model_validator(mode="after")
    def _unique_signers(self) -> "Approval":
        for what, values in (("identity", [s.identity.lower() for s in self.signers]),
                             ("key", [s.key for s in self.signers]),
                             ("github login", [s.github.lower() for s in self.signers if s.github]),
                             ("azure_devops name", [s.azure_devops.lower() for s in self.signers if s.azure_devops])):
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"signers: duplicate {what} {', '.join(duplicates)}")
        return self


class Promotion(Strict):
    from_env: EnvName | None = Field(None, alias="from", description="The only environment models may come from.")
    gates: list[Gate] = Field(default_factory=list, description="Gates a version must pass to become champion.")
    evaluation: Evaluation = Field(default_factory=Evaluation, description="The labelled table this environment's "
                                   "metric gates compute their figures on (never the source's logged metrics).")
    approval: Approval = Field(default_factory=Approval, description="Manual approval before champion moves.")

    @model_validator(mode="after")
    def _unique_gate_ids(self) -> "Promotion":
        ids = [g.gate_id for g in self.gates]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate gate id {', '.join(duplicates)}")
        return self


class Credentials(Strict):
    # The names of promotion/credentials/chain.py's STRATEGY_NAMES (spelled out: the model does not import
    # promotion); tests/test_credentials.py fails when the two disagree.
    strategy: Literal["azure-workload-identity", "azure-client-secret", "azure-cli", "local-password"] | None = Field(
        None, description="Pin one credential strategy; omit to pick the single one configured."
    )


class Waiver(Strict):
    """An accepted guardrail finding: data with rules of its own, and always visible as "waived"."""

    id: str = Field(description="Rule id, e.g. LG-PROD-002.")
    reason: str = Field(description="Why the finding is accepted (at least 10 characters).")
    applies_to: str | None = Field(None, description="The finding it waives (e.g. `cluster=adhoc`); omit for all.")
    expires: date | None = Field(None, description="YYYY-MM-DD after which the waiver lapses (an error).")
    approved_by: str = Field(min_length=1, description="Who accepted the risk.")

    @field_validator("id")
    @classmethod
    def _bare_rule_id(cls, value: str) -> str:
        if "[" in value:
            raise ValueError(f"'{value}': put the finding in applies_to, the id is the bare rule id")
        if not re.fullmatch(r"LG-[A-Z]+-\d{3}", value):
            raise ValueError(f"'{value}' is not a rule id (LG-<AREA>-<NNN>)")
        return value

    @field_validator("reason")
    @classmethod
    def _real_reason(cls, value: str) -> str:
        if len(value.strip()) < 10:
            raise ValueError("a waiver needs a reason of at least 10 characters")
        return value
