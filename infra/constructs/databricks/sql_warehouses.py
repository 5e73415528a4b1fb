"""SQL warehouses (dashboards, alerts, the quality monitors' dashboards) and who may use them.

Quality monitors are not here: a monitor needs its table, and the tables are written by the jobs (batch
inference, the monitoring job's unpacking of the inference table, training's baseline), which do not exist at
the first apply. The monitoring job creates or updates each monitor from the YAML's `quality_monitors` once
its table exists, then refreshes it (pipelines/monitoring).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct

from ...model.tooling import SqlWarehouse
from .directory import Directory, slug
from .permissions import object_permissions


@dataclass(frozen=True)
class SqlWarehousesProps:
    warehouses: Sequence[SqlWarehouse] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


class SqlWarehouses(Construct):
    """Attributes: `warehouses` (resources by name)."""

    def __init__(self, scope: Construct, id: str, props: SqlWarehousesProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn_provider_databricks.sql_endpoint import SqlEndpoint, SqlEndpointTags, SqlEndpointTagsCustomTags

        self.warehouses = {}
        for warehouse in props.warehouses:
            key = slug(warehouse.name)
            self.warehouses[warehouse.name] = SqlEndpoint(
                self, f"warehouse_{key}",
                name=warehouse.name,
                cluster_size=warehouse.size,
                warehouse_type="PRO",
                enable_serverless_compute=warehouse.serverless,
                auto_stop_mins=warehouse.auto_stop_minutes,
                min_num_clusters=warehouse.min_clusters,
                max_num_clusters=warehouse.max_clusters,
                tags=SqlEndpointTags(custom_tags=[SqlEndpointTagsCustomTags(key=k, value=v)
                                                  for k, v in sorted(props.tags.items())]) if props.tags else None,
            )
            object_permissions(self, f"warehouse_{key}_permissions", directory,
                               {name: "CAN_USE" for name in warehouse.users},
                               sql_endpoint_id=self.warehouses[warehouse.name].id)
