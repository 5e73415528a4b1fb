"""Publishing a feature table to the environment's online store: the step of the feature-refresh job that makes
a model servable by key on Databricks (`models.<name>.serving.lookup: by_key`).

The stack creates the store (`databricks_online_store`, infra/constructs/databricks/online_features.py) at the
first apply, when no feature table exists yet; the synced (online) table can only follow the table it copies, so
its first writer creates it: this step, after the refresh wrote the table. On Databricks it declares the key as
the table's primary key, turns on the change data feed (publish_table needs both) and publishes with
`databricks-feature-engineering` — not installable here, so that branch has never run. Locally the lookup reads
the Delta table itself (pipelines/serving/lookup.py): the step is recorded (log line and the `online_table` task
value), so a local run shows the same order a cluster runs.
"""

from __future__ import annotations


def publish(rt, table: str, key: str, store: str, online_table: str) -> str:
    """Publish `table` (keyed by `key`) to online store `store` as `online_table`; returns the online table's name."""
    source, online = rt.tables.full_name(table), rt.tables.full_name(online_table)
    if getattr(rt, "on_databricks", False):
        _publish_on_databricks(rt, source, key, store, online)
        rt.log(f"published {source} to online store {store} as {online}")
    else:
        rt.log(f"online store {store}: {online} would be synced from {source} (key {key}) on Databricks; "
               f"locally the endpoint looks features up in {source} itself")
    rt.set_task_value("online_table", online)
    return online


def _publish_on_databricks(rt, source: str, key: str, store: str, online: str) -> None:  # pragma: no cover
    """Unexecuted here (needs a workspace and databricks-feature-engineering on the cluster's ML runtime)."""
    from databricks.feature_engineering import FeatureEngineeringClient

    spark = rt.tables.spark
    spark.sql(f"ALTER TABLE {source} ALTER COLUMN `{key}` SET NOT NULL")
    constraint = f"{source.split('.')[-1]}_pk"
    spark.sql(f"ALTER TABLE {source} DROP CONSTRAINT IF EXISTS {constraint}")
    spark.sql(f"ALTER TABLE {source} ADD CONSTRAINT {constraint} PRIMARY KEY (`{key}`)")
    spark.sql(f"ALTER TABLE {source} SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    client = FeatureEngineeringClient()
    client.publish_table(online_store=client.get_online_store(name=store), source_table_name=source,
                         online_table_name=online)
