"""The one table interface every task reads and writes through, acting as one principal.

    tables.read("features.churn_features")           # a frame: pandas locally, a Spark DataFrame on Databricks
    tables.write("predictions.churn_scores", frame, mode="append")
    tables.exists("monitoring.churn_baseline"); tables.version(name); tables.full_name(name)
    tables.predict(frame, model, columns)            # batch scoring: pandas predict / mlflow.pyfunc.spark_udf
    tables.from_pandas(pdf), tables.to_pandas(frame, limit=None), tables.with_columns(frame, name=value)

A name is `schema.table` in the runtime's catalog, or `catalog.schema.table`.

Locally (`LocalTables`): Delta Lake tables (deltalake, no Spark) under `<state-dir>/lakehouse/<catalog>/<schema>/
<table>`, each read and write decided by pipelines/grants.py from the grants the stacks deploy; a refusal raises
`promotion.registry.PermissionRefused` ("principal sp-lakegate-dev may not write on prod.features.churn_features").
On Databricks (`SparkTables`): `spark.table` / `saveAsTable`, Unity Catalog enforcing the same grants, and
scoring through `mlflow.pyfunc.spark_udf`, so feature refresh and batch scoring scale with the cluster. Its
reads, frame helpers and spark_udf scoring run here on a local Spark session (`run --engine spark`:
pipelines/spark_engine.py's LocalSparkTables maps the names, decides the grants and stores the same Delta tables).
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any, Protocol, Sequence

from lakegate.promotion.registry import PermissionRefused

from . import grants
from .errors import MissingTable


class Tables(Protocol):
    principal: str
    catalog: str

    def full_name(self, name: str) -> str: ...

    def exists(self, name: str) -> bool: ...

    def read(self, name: str) -> Any: ...

    def write(self, name: str, frame: Any, mode: str = "overwrite") -> int | None: ...

    def version(self, name: str) -> int | None: ...

    def predict(self, frame: Any, model: Any, columns: Sequence[str], output: str = "prediction") -> Any: ...

    def from_pandas(self, frame: Any) -> Any: ...

    def to_pandas(self, frame: Any, limit: int | None = None) -> Any: ...

    def with_columns(self, frame: Any, **values: Any) -> Any: ...


def split_name(name: str, default_catalog: str) -> tuple[str, str, str]:
    parts = name.strip().split(".")
    if len(parts) == 2:
        parts = [default_catalog, *parts]
    if len(parts) != 3 or not all(p and p.replace("_", "").isalnum() for p in parts):
        raise ValueError(f"{name!r} is not a table name (`schema.table` or `catalog.schema.table`)")
    return parts[0], parts[1], parts[2]


class LocalTables:
    """Delta tables under `root`, read and written as `principal` from `workspace_env`'s workspace."""

    def __init__(self, root: Path, envs, principal: str, workspace_env: str):
        self.root, self.envs, self.principal, self.workspace_env = Path(root), envs, principal, workspace_env
        self.catalog = envs[workspace_env].unity_catalog.catalog

    def __repr__(self) -> str:
        return f"LocalTables({self.root}, principal={self.principal!r}, workspace={self.workspace_env!r})"

    def full_name(self, name: str) -> str:
        return ".".join(split_name(name, self.catalog))

    def path(self, name: str) -> Path:
        return self.root.joinpath(*split_name(name, self.catalog))

    def exists(self, name: str) -> bool:
        self._check(name, grants.READ)
        return (self.path(name) / "_delta_log").is_dir()

    def read(self, name: str):
        from deltalake import DeltaTable

        self._check(name, grants.READ)
        if not (self.path(name) / "_delta_log").is_dir():
            raise MissingTable(f"table {self.full_name(name)} does not exist")
        return DeltaTable(str(self.path(name))).to_pandas()

    def version(self, name: str) -> int | None:
        from deltalake import DeltaTable

        self._check(name, grants.READ)
        path = self.path(name)
        return DeltaTable(str(path)).version() if (path / "_delta_log").is_dir() else None

    def write(self, name: str, frame, mode: str = "overwrite") -> int:
        """Write (overwrite) or append `frame`; returns the table's new Delta version."""
        from deltalake import DeltaTable, write_deltalake

        if mode not in ("overwrite", "append"):
            raise ValueError(f"mode must be overwrite or append, not {mode!r}")
        path = self.path(name)
        creating = not (path / "_delta_log").is_dir()
        self._check(name, grants.CREATE if creating else grants.WRITE)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_deltalake(str(path), frame.reset_index(drop=True), mode=mode,
                        schema_mode="overwrite" if mode == "overwrite" else "merge")
        return DeltaTable(str(path)).version()

    def drop(self, name: str) -> None:
        self._check(name, grants.WRITE)
        shutil.rmtree(self.path(name), ignore_errors=True)

    # -- frame helpers (pandas) ------------------------------------------------------------------------

    def predict(self, frame, model, columns: Sequence[str], output: str = "prediction"):
        scored = frame.copy()
        scored[output] = _plain_predictions(model.predict(frame[list(columns)]))
        return scored

    def from_pandas(self, frame):
        return frame

    def to_pandas(self, frame, limit: int | None = None):
        return frame if limit is None else frame.head(limit)

    def with_columns(self, frame, **values):
        return frame.assign(**values)

    def _check(self, name: str, action: str) -> None:
        catalog, schema, table = split_name(name, self.catalog)
        decision = grants.decide(self.envs, self.principal, self.workspace_env, catalog, schema, table, action)
        if not decision.allowed:
            verb = {grants.READ: "read", grants.WRITE: "write", grants.CREATE: "create a table"}[action]
            raise PermissionRefused(self.principal, verb, f"{catalog}.{schema}.{table}", detail=decision.reason)


class SparkTables:
    """Unity Catalog tables through the cluster's Spark session (Databricks; locally LocalSparkTables)."""

    def __init__(self, spark, catalog: str, principal: str = "the job's run-as principal"):
        self.spark, self.catalog, self.principal = spark, catalog, principal

    def full_name(self, name: str) -> str:
        return ".".join(split_name(name, self.catalog))

    def exists(self, name: str) -> bool:
        return bool(self.spark.catalog.tableExists(self.full_name(name)))

    def read(self, name: str):
        if not self.exists(name):
            raise MissingTable(f"table {self.full_name(name)} does not exist")
        return self.spark.table(self.full_name(name))

    def version(self, name: str) -> int | None:
        if not self.exists(name):
            return None
        row = self.spark.sql(f"DESCRIBE HISTORY {self.full_name(name)} LIMIT 1").collect()
        return int(row[0]["version"]) if row else None

    def write(self, name: str, frame, mode: str = "overwrite") -> int | None:
        writer = frame.write.format("delta").mode(mode)
        writer = writer.option("overwriteSchema", "true") if mode == "overwrite" else writer.option("mergeSchema", "true")
        writer.saveAsTable(self.full_name(name))
        return self.version(name)

    def model_context(self):
        """Where MLflow resolves model URIs (on a cluster: the workspace's registry, already configured)."""
        return contextlib.nullcontext()

    def predict(self, frame, model, columns: Sequence[str], output: str = "prediction"):
        """`model` is a model URI here (`models:/prod.ml.churn@champion`): scored on the executors."""
        import mlflow.pyfunc

        with self.model_context():  # the model is fetched here, on the driver; executors load the local copy
            udf = mlflow.pyfunc.spark_udf(self.spark, model, result_type="double", env_manager="local")
        return frame.withColumn(output, udf(*columns))

    def from_pandas(self, frame):
        return self.spark.createDataFrame(frame)

    def to_pandas(self, frame, limit: int | None = None):
        if not hasattr(frame, "toPandas"):  # already pandas (a project's features(ctx) may return either)
            return frame if limit is None else frame.head(limit)
        return (frame.limit(limit) if limit is not None else frame).toPandas()

    def with_columns(self, frame, **values):
        from pyspark.sql import functions as F

        for column, value in values.items():
            frame = frame.withColumn(column, F.lit(value))
        return frame


def _plain_predictions(predictions):
    """A pyfunc model's output as one value per row (a Series, an array or a one-column frame)."""
    if hasattr(predictions, "columns"):
        predictions = predictions.iloc[:, 0]
    return list(predictions) if not hasattr(predictions, "to_numpy") else predictions.to_numpy()


def tables_for(registry, envs, env) -> Tables:
    """The tables of `env`, as the principal a registry adapter acts as: the local lakehouse next to the local
    registry, or Unity Catalog through a SQL warehouse for the Databricks adapter (read only)."""
    state_dir = getattr(registry, "state_dir", None)
    if state_dir is not None:
        return LocalTables(Path(state_dir) / "lakehouse", envs, registry.principal, env.name)
    client = getattr(registry, "client", None)
    if client is not None:
        return WarehouseTables(client, env, registry.principal)
    raise MissingTable(f"{registry!r} gives no access to {env.name}'s tables")


class WarehouseTables:
    """Read-only Unity Catalog tables through a SQL warehouse of the environment (the Statement Execution API),
    for what runs outside a cluster, e.g. the target's metric gates in CI with `--registry databricks`."""

    def __init__(self, client, env, principal: str):
        self.client, self.env, self.principal = client, env, principal
        self.catalog = env.unity_catalog.catalog
        self._warehouse_id: str | None = None

    def full_name(self, name: str) -> str:
        return ".".join(split_name(name, self.catalog))

    def _warehouse(self) -> str:
        if self._warehouse_id is None:
            wanted = [w.name for w in self.env.sql_warehouses]
            found = {w.name: w.id for w in self.client.warehouses.list() if w.name in wanted}
            if not found:
                raise MissingTable(f"{self.env.name} has no SQL warehouse to read tables with (sql_warehouses: "
                                   f"{', '.join(wanted) or 'none'})")
            self._warehouse_id = found.get(wanted[0]) or next(iter(found.values()))
        return self._warehouse_id

    def _query(self, statement: str):
        import pandas as pd
        from databricks.sdk.service.sql import Disposition, Format, StatementState

        from lakegate.promotion.databricks.errors import mapped_errors

        with mapped_errors(self.principal, "read", statement.split()[-1] if statement else "?"):
            response = self.client.statement_execution.execute_statement(
                statement=statement, warehouse_id=self._warehouse(), wait_timeout="50s",
                disposition=Disposition.INLINE, format=Format.JSON_ARRAY)
        state = response.status.state if response.status else None
        if state != StatementState.SUCCEEDED:
            message = response.status.error.message if response.status and response.status.error else str(state)
            if "TABLE_OR_VIEW_NOT_FOUND" in (message or ""):
                raise MissingTable(message)
            raise MissingTable(f"the SQL warehouse could not run `{statement}`: {message}")
        columns = [c.name for c in response.manifest.schema.columns]
        types = [c.type_name.value if c.type_name else "STRING" for c in response.manifest.schema.columns]
        frame = pd.DataFrame((response.result.data_array if response.result else None) or [], columns=columns)
        for column, kind in zip(columns, types):
            if kind in ("DOUBLE", "FLOAT", "DECIMAL", "INT", "LONG", "SHORT", "BYTE"):
                frame[column] = pd.to_numeric(frame[column])
        return frame

    def exists(self, name: str) -> bool:
        try:
            self.version(name)
            return True
        except MissingTable:
            return False

    def version(self, name: str) -> int | None:
        history = self._query(f"DESCRIBE HISTORY {self.full_name(name)} LIMIT 1")
        return int(history["version"].iloc[0]) if len(history) else None

    def read(self, name: str):
        return self._query(f"SELECT * FROM {self.full_name(name)}")

    def to_pandas(self, frame, limit: int | None = None):
        return frame if limit is None else frame.head(limit)
