"""Compute: cluster policies and clusters."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from ..suggest import did_you_mean
from .base import Strict


class ClusterPolicy(Strict):
    name: str = Field(description="Policy name.")
    node_types: list[str] = Field(min_length=1, description="Allowed VM sizes, e.g. Standard_DS3_v2.")
    max_workers: int = Field(4, ge=0, le=1000, description="Upper bound on autoscaling workers.")
    auto_termination_minutes: int = Field(30, ge=10, le=10080, description="Upper bound on idle auto-termination; clusters may stop sooner, never later.")
    spark_version: str = Field(description="Pinned Databricks Runtime, e.g. 15.4.x-cpu-ml-scala2.12.")
    max_dbu_per_hour: float | None = Field(None, gt=0, description="Cap on DBU per hour.")
    users: list[str] = Field(default_factory=list, description="Groups/principals allowed to use the policy.")
    cluster_type: Literal["any", "job", "all-purpose"] = Field(
        "any", description="Which clusters the policy may create: job clusters, all-purpose clusters or both."
    )


class Cluster(Strict):
    name: str = Field(description="All-purpose cluster name.")
    policy: str = Field(description="Name of the cluster policy it is created from.")
    node_type: str = Field(description="VM size; must be allowed by the policy.")
    min_workers: int = Field(1, ge=0, description="Autoscaling lower bound.")
    max_workers: int = Field(2, ge=0, description="Autoscaling upper bound.")
    auto_termination_minutes: int = Field(30, ge=0, description="Idle auto-termination; 0 means never.")
    users: list[str] = Field(default_factory=list, description="Groups allowed to attach (CAN_RESTART).")
    single_user: str | None = Field(
        None, description="User or group the single-user (dedicated) cluster runs for; default the first of `users`."
    )

    @property
    def assigned_to(self) -> str | None:
        return self.single_user or (self.users[0] if self.users else None)

    @model_validator(mode="after")
    def _bounds(self) -> "Cluster":
        if self.min_workers > self.max_workers:
            raise ValueError(f"min_workers {self.min_workers} exceeds max_workers {self.max_workers}")
        return self


class Compute(Strict):
    allow_all_purpose: bool = Field(False, description="Whether interactive (all-purpose) clusters may exist.")
    policies: list[ClusterPolicy] = Field(default_factory=list, description="Cluster policies.")
    clusters: list[Cluster] = Field(default_factory=list, description="All-purpose clusters.")

    @model_validator(mode="after")
    def _references(self) -> "Compute":
        policies = {p.name: p for p in self.policies}
        for cluster in self.clusters:
            policy = policies.get(cluster.policy)
            if policy is None:
                raise ValueError(f"cluster '{cluster.name}' uses unknown policy '{cluster.policy}'"
                                 f"{did_you_mean(cluster.policy, [p.name for p in self.policies])}")
            if cluster.node_type not in policy.node_types:
                raise ValueError(f"cluster '{cluster.name}' node_type {cluster.node_type} is not allowed by policy '{policy.name}'")
            if policy.cluster_type == "job":
                raise ValueError(f"cluster '{cluster.name}' uses policy '{policy.name}', which only allows job clusters")
            if cluster.max_workers > policy.max_workers:
                raise ValueError(f"cluster '{cluster.name}' max_workers {cluster.max_workers} exceeds policy limit {policy.max_workers}")
        if self.clusters and not self.allow_all_purpose:
            raise ValueError("clusters are declared but allow_all_purpose is false")
        for cluster in self.clusters:
            if cluster.assigned_to is None:
                raise ValueError(f"cluster '{cluster.name}' needs single_user or users (Unity Catalog clusters are single-user)")
        names = [p.name for p in self.policies]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate policy {', '.join(duplicates)}")
        return self

    def policy(self, name: str) -> ClusterPolicy | None:
        return next((p for p in self.policies if p.name == name), None)
