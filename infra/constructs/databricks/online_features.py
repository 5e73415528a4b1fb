"""The online store endpoints serving by key look their features up in (`serving.lookup: by_key`).

`databricks_online_store` is the provider's current resource for it (a Databricks Online Feature Store, backed by
a Lakebase instance of the same name); `databricks_online_table` is the deprecated one (legacy online tables are
no longer served after 15 January 2026) and is not used. One store per environment, shared by its endpoints, at
the largest capacity and read-replica count any of them declares.

What the store holds is not here: a synced (online) table copies a feature table, which does not exist at the
first apply, so its first writer creates it — the model's feature-refresh job publishes the table to the store
after writing it (pipelines/features/online.py), and the first apply never waits on data. Access, least
privilege: the service principal, which runs the feature-refresh job (it creates and refreshes the synced
tables) and is the principal serving looks features up as, gets CAN_USE on the store's instance, not
CAN_MANAGE (resizing or deleting the store is Terraform's). Reading the rows needs SELECT on the online table,
which the principal holds as the table's creator; nobody else is granted anything here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct

from ...model.serving import FeatureLookup, online_store_name
from .directory import Directory
from .permissions import object_permissions

_CAPACITIES = ("CU_1", "CU_2", "CU_4", "CU_8")


@dataclass(frozen=True)
class OnlineFeaturesProps:
    environment: str                       # the store's name is derived from it (infra/model/serving.py)
    service_principal: str                 # YAML name of the environment's service principal
    lookups: Sequence[FeatureLookup] = ()  # the endpoints' lookups by key; none: no store


class OnlineFeatures(Construct):
    """Attributes: `store` (the databricks_online_store, or None when no endpoint serves by key), `store_name`."""

    def __init__(self, scope: Construct, id: str, props: OnlineFeaturesProps, directory: Directory):
        super().__init__(scope, id)
        self.store, self.store_name = None, online_store_name(props.environment)
        if not props.lookups:
            return
        from cdktn_provider_databricks.online_store import OnlineStore

        capacity = max((lookup.online_store.capacity for lookup in props.lookups), key=_CAPACITIES.index)
        replicas = max(lookup.online_store.read_replicas for lookup in props.lookups)
        self.store = OnlineStore(self, "store", name=self.store_name, capacity=capacity,
                                 read_replica_count=replicas)
        object_permissions(self, "store_permissions", directory, {props.service_principal: "CAN_USE"},
                           database_instance_name=self.store.name)
