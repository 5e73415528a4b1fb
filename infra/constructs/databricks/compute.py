"""Cluster policies and all-purpose clusters, with who may use them.

Every policy pins the runtime, allows only the listed VM sizes, bounds workers, DBU per hour and idle
auto-termination, and fixes single-user access mode (the mode Unity Catalog needs for ML runtimes).
The environment's service principal may use every policy: its jobs create their clusters from them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct

from ...model.compute import Cluster, ClusterPolicy
from .directory import Directory, slug
from .permissions import object_permissions

MIN_AUTO_TERMINATION = 10


@dataclass(frozen=True)
class ComputeProps:
    service_principal: str                           # YAML name of the environment's service principal
    policies: Sequence[ClusterPolicy] = ()
    clusters: Sequence[Cluster] = ()                 # all-purpose clusters (only where the environment allows them)
    tags: Mapping[str, str] = field(default_factory=dict)  # fixed on every cluster a policy creates


def policy_definition(policy: ClusterPolicy, tags: Mapping[str, str]) -> dict:
    """The policy document (Databricks cluster policy definition language)."""
    definition = {
        "spark_version": {"type": "fixed", "value": policy.spark_version},
        "node_type_id": {"type": "allowlist", "values": list(policy.node_types), "defaultValue": policy.node_types[0]},
        "driver_node_type_id": {"type": "allowlist", "values": list(policy.node_types), "defaultValue": policy.node_types[0]},
        "autoscale.max_workers": {"type": "range", "maxValue": policy.max_workers},
        "num_workers": {"type": "range", "maxValue": policy.max_workers, "isOptional": True},
        "autotermination_minutes": {"type": "range", "minValue": MIN_AUTO_TERMINATION,
                                    "maxValue": policy.auto_termination_minutes,
                                    "defaultValue": policy.auto_termination_minutes},
        "data_security_mode": {"type": "fixed", "value": "SINGLE_USER"},
    }
    if policy.cluster_type != "any":
        definition["cluster_type"] = {"type": "fixed", "value": policy.cluster_type}
    if policy.max_dbu_per_hour is not None:
        cap = policy.max_dbu_per_hour
        definition["dbus_per_hour"] = {"type": "range", "maxValue": int(cap) if float(cap).is_integer() else cap}
    for key, value in sorted(tags.items()):
        definition[f"custom_tags.{key}"] = {"type": "fixed", "value": value}
    return definition


class Compute(Construct):
    """Attributes: `policies` (resources by name), `policy_ids` (id tokens by name) and `clusters` (by name)."""

    def __init__(self, scope: Construct, id: str, props: ComputeProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn_provider_databricks.cluster import Cluster as DbCluster, ClusterAutoscale
        from cdktn_provider_databricks.cluster_policy import ClusterPolicy as DbPolicy

        self.policies, self.clusters, self.policy_ids = {}, {}, {}
        policy_ids = self.policy_ids
        for policy in props.policies:
            key = slug(policy.name)
            self.policies[policy.name] = DbPolicy(
                self, f"policy_{key}",
                name=policy.name,
                description=f"lakegate: {policy.cluster_type} clusters, runtime {policy.spark_version}",
                definition=json.dumps(policy_definition(policy, props.tags), sort_keys=True),
            )
            policy_ids[policy.name] = self.policies[policy.name].id
            users = {name: "CAN_USE" for name in policy.users} | {props.service_principal: "CAN_USE"}
            object_permissions(self, f"policy_{key}_permissions", directory, users, cluster_policy_id=policy_ids[policy.name])
        by_name = {p.name: p for p in props.policies}
        for cluster in props.clusters:
            key, policy = slug(cluster.name), by_name[cluster.policy]
            self.clusters[cluster.name] = DbCluster(
                self, f"cluster_{key}",
                cluster_name=cluster.name,
                policy_id=policy_ids[cluster.policy],
                apply_policy_default_values=True,
                spark_version=policy.spark_version,
                node_type_id=cluster.node_type,
                autoscale=ClusterAutoscale(min_workers=cluster.min_workers, max_workers=cluster.max_workers),
                autotermination_minutes=cluster.auto_termination_minutes,
                data_security_mode="SINGLE_USER",
                single_user_name=cluster.assigned_to,
                custom_tags=dict(props.tags) or None,
                no_wait=True,  # do not hold the apply until the cluster has started
            )
            object_permissions(self, f"cluster_{key}_permissions", directory,
                               {name: "CAN_RESTART" for name in cluster.users},
                               cluster_id=self.clusters[cluster.name].cluster_id)
