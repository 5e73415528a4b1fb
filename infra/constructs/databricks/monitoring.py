"""Monitoring and dashboards: SQL warehouses, and quality monitors whose drift and profile metrics land in
the environment's monitoring schema (the monitoring job reads them to decide on retraining)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct

from ...model.quality import QualityMonitor
from ...model.tooling import SqlWarehouse
from .directory import Directory, slug
from .permissions import object_permissions

PROBLEM_TYPES = {"classification": "PROBLEM_TYPE_CLASSIFICATION", "regression": "PROBLEM_TYPE_REGRESSION"}


@dataclass(frozen=True)
class MonitoringProps:
    catalog: str
    monitoring_schema: str
    warehouses: Sequence[SqlWarehouse] = ()
    monitors: Sequence[QualityMonitor] = ()
    tags: Mapping[str, str] = field(default_factory=dict)
    assets_root: str = "/Workspace/Shared/lakegate/monitors"   # where monitors put their dashboards


class Monitoring(Construct):
    """Attributes: `warehouses` and `monitors` (resources by name / monitored table)."""

    def __init__(self, scope: Construct, id: str, props: MonitoringProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn_provider_databricks.quality_monitor import (
            QualityMonitor as DbMonitor, QualityMonitorInferenceLog, QualityMonitorNotifications,
            QualityMonitorNotificationsOnFailure, QualityMonitorSchedule,
        )
        from cdktn_provider_databricks.sql_endpoint import SqlEndpoint, SqlEndpointTags, SqlEndpointTagsCustomTags

        self.warehouses, self.monitors, warehouse_ids = {}, {}, {}
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
            warehouse_ids[warehouse.name] = self.warehouses[warehouse.name].id
            object_permissions(self, f"warehouse_{key}_permissions", directory,
                               {name: "CAN_USE" for name in warehouse.users}, sql_endpoint_id=warehouse_ids[warehouse.name])
        default_warehouse = next(iter(warehouse_ids.values()), None)
        for monitor in props.monitors:
            table = f"{props.catalog}.{monitor.table}"
            warehouse_id = warehouse_ids[monitor.warehouse] if monitor.warehouse else default_warehouse
            self.monitors[monitor.table] = DbMonitor(
                self, f"monitor_{slug(monitor.table)}",
                table_name=table,
                assets_dir=f"{props.assets_root}/{table}",
                output_schema_name=f"{props.catalog}.{props.monitoring_schema}",
                # This provider version models these blocks as lists of one.
                inference_log=[QualityMonitorInferenceLog(
                    problem_type=PROBLEM_TYPES[monitor.problem_type],
                    prediction_col=monitor.prediction_column,
                    label_col=monitor.label_column,
                    model_id_col=monitor.model_id_column,
                    timestamp_col=monitor.timestamp_column,
                    granularities=list(monitor.granularities),
                )],
                baseline_table_name=f"{props.catalog}.{monitor.baseline_table}" if monitor.baseline_table else None,
                slicing_exprs=list(monitor.slicing_expressions) or None,
                schedule=[QualityMonitorSchedule(quartz_cron_expression=monitor.schedule.cron,
                                                 timezone_id=monitor.schedule.timezone)] if monitor.schedule else None,
                notifications=[QualityMonitorNotifications(on_failure=[QualityMonitorNotificationsOnFailure(
                    email_addresses=list(monitor.notify_on_failure))])] if monitor.notify_on_failure else None,
                warehouse_id=warehouse_id,
            )
