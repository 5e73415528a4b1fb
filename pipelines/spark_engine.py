"""The Spark engine (`python main.py run JOB --env ENV --engine spark`): the job's tasks on ONE local Spark session,
through the same SparkTables code a Databricks cluster runs (pipelines/tables.py), with what a cluster has and a
laptop has not supplied here:

- Delta without Delta's jars (they come from Maven at start-up, unreachable here; no PyPI or Debian package ships
  them): `format("delta")` is a Spark 4 Python data source over the `deltalake` package (pipelines/spark_delta.py),
  so the tables are REAL Delta tables, the local engine's own: `<state-dir>/lakehouse/<catalog>/<schema>/<table>`,
  written by one engine, read by the other;
- Unity Catalog's three-part names over Spark's two-level catalog: `dev.ml.churn_scores` is the table at
  `lakehouse/dev/ml/churn_scores`, read with `spark.read.format("delta").load(path)`. Spark's catalog holds the
  declared schemas (`dev__ml`; `unity_catalog.schemas`: Terraform creates them) but not the tables: pyspark 4.3
  gives a Python data source table of the session catalog no options when it is read (`CREATE TABLE t USING
  delta OPTIONS (path ...)` then `spark.table(t)`: "format('delta') needs a path"), so `spark.table` / SQL by
  name is what a cluster has and this engine has not; a table exists when its first writer committed it;
- grants: local Spark enforces none, so every read and write is decided by pipelines/grants.py for the acting
  principal, as the local lakehouse does (a refusal raises promotion.registry.PermissionRefused).

The session: `local[2]`, a small driver, no UI, bound to 127.0.0.1, quiet logs, the warehouse under the state
folder; started on first use and kept for the process (a JVM per process), its start-up time measured.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import warnings
from pathlib import Path

from lakegate.promotion.registry import PermissionRefused

from . import grants
from .errors import MissingTable, PipelineError
from .tables import SparkTables, split_name

_engine: "SparkEngine | None" = None


class SparkUnavailable(PipelineError):
    """The Spark engine cannot start here (no Java, no pyspark)."""


class MissingSchema(MissingTable):
    """A write into a schema the definitions do not declare (Terraform creates schemas, not jobs)."""


class SparkEngine:
    """One local Spark session, the lakehouse folder it works on and the databases (schemas) it declared."""

    def __init__(self, spark, startup_seconds: float):
        self.spark, self.startup_seconds = spark, startup_seconds
        self.root: Path | None = None
        self.databases: set[str] = set()

    @property
    def version(self) -> str:
        return self.spark.version

    def attach(self, root: Path, envs) -> None:
        """The lakehouse under `root` (one per process at a time: a test session moves between state folders)
        and a database for every declared schema: what exists is what Terraform would have created."""
        declared = {database_name(env.unity_catalog.catalog, schema) for env in envs
                    for schema in env.unity_catalog.schema_names}
        for database in sorted(declared - self.databases):
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.databases |= declared
        self.root = Path(root).resolve()


def _is_delta(path: Path) -> bool:
    return (path / "_delta_log").is_dir()


def database_name(catalog: str, schema: str) -> str:
    return f"{catalog}__{schema}"


def engine(state_dir: Path) -> SparkEngine:
    """The process's Spark engine, started on first use (its warehouse under the first state folder)."""
    global _engine
    if _engine is None:
        _engine = _start(Path(state_dir) / "spark-warehouse")
    return _engine


def _start(warehouse: Path) -> SparkEngine:
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SparkUnavailable("the Spark engine needs Java 17 or later (java on PATH or JAVA_HOME); "
                               "`--engine local` runs without it")
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise SparkUnavailable(f"the Spark engine needs pyspark ({error}); `make` installs it") from None
    # pyspark warns that pandas 3 is newer than it has been tested with; the conversions used here work.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)          # workers run this virtualenv's Python
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    root = str(Path(__file__).resolve().parent.parent)
    started = time.perf_counter()
    builder = (SparkSession.builder.master("local[2]").appName("lakegate")
               .config("spark.driver.memory", os.environ.get("LAKEGATE_SPARK_MEMORY", "1g"))
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.catalogImplementation", "in-memory")
               .config("spark.sql.warehouse.dir", str(warehouse.resolve()))
               .config("spark.sql.shuffle.partitions", "4").config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.execution.arrow.pyspark.enabled", "true")
               # Arrow batches of 100k rows (default 10k): a 1M-row pandas frame becomes 10 partitions, not 100
               # small files, and spark_udf hands the model larger batches.
               .config("spark.sql.execution.arrow.maxRecordsPerBatch", "100000")
               .config("spark.executorEnv.PYTHONPATH", os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
               .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={_quiet_logging(warehouse)}"))
    try:
        spark = builder.getOrCreate()
    except Exception as error:  # noqa: BLE001 -- Java missing or too old, a port refused: one line, not a JVM dump
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise SparkUnavailable(f"the local Spark session did not start: {first}") from None
    spark.sparkContext.setLogLevel("ERROR")
    from .spark_delta import DeltaSource          # imports pyspark: only once it is known to be installed

    spark.dataSource.register(DeltaSource)       # format("delta"), through deltalake (pipelines/spark_delta.py)
    return SparkEngine(spark, time.perf_counter() - started)


def _quiet_logging(warehouse: Path) -> Path:
    """A log4j2 configuration printing errors only (Spark's default prints its banner and every warning)."""
    warehouse.mkdir(parents=True, exist_ok=True)
    path = warehouse / "log4j2.properties"
    path.write_text("rootLogger.level = error\nrootLogger.appenderRef.console.ref = console\n"
                    "appender.console.type = Console\nappender.console.name = console\n"
                    "appender.console.target = SYSTEM_ERR\nappender.console.layout.type = PatternLayout\n"
                    "appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n\n")
    return path.resolve()


class LocalSparkTables(SparkTables):
    """SparkTables on the local engine: Unity Catalog names mapped to paths, grants decided here, Delta storage."""

    def __init__(self, engine_: SparkEngine, root: Path, envs, principal: str, workspace_env: str, model_context=None):
        super().__init__(engine_.spark, envs[workspace_env].unity_catalog.catalog, principal)
        self.engine, self.root, self.envs, self.workspace_env = engine_, Path(root), envs, workspace_env
        if model_context is not None:
            self.model_context = model_context
        engine_.attach(self.root, envs)

    def __repr__(self) -> str:
        return f"LocalSparkTables({self.root}, principal={self.principal!r}, workspace={self.workspace_env!r})"

    def path(self, name: str) -> Path:
        return self.root.joinpath(*split_name(name, self.catalog))

    def exists(self, name: str) -> bool:
        self._check(name, grants.READ)
        return _is_delta(self.path(name))

    def read(self, name: str):
        if not self.exists(name):
            self._schema_exists(name)
            raise MissingTable(f"table {self.full_name(name)} does not exist")
        return self.spark.read.format("delta").load(str(self.path(name)))

    def version(self, name: str) -> int | None:
        from deltalake import DeltaTable

        return DeltaTable(str(self.path(name))).version() if self.exists(name) else None

    def write(self, name: str, frame, mode: str = "overwrite") -> int:
        """Write (overwrite) or append `frame` as one Delta commit; the first writer creates the table. Returns the
        table's new version. Overwriting what the frame reads is safe: a commit removes files from the new version
        only, the frame reads the version it was planned on, and files are deleted only by a vacuum."""
        from deltalake import DeltaTable

        if mode not in ("overwrite", "append"):
            raise ValueError(f"mode must be overwrite or append, not {mode!r}")
        if not hasattr(frame, "write"):  # a pandas frame (e.g. the serving payload log's batch)
            frame = self.from_pandas(frame.reset_index(drop=True))
        path = self.path(name)
        self._check(name, grants.WRITE if _is_delta(path) else grants.CREATE)
        self._schema_exists(name)
        frame.write.format("delta").mode(mode).save(str(path))
        return DeltaTable(str(path)).version()

    def _schema_exists(self, name: str) -> None:
        catalog, schema, _ = split_name(name, self.catalog)
        if database_name(catalog, schema) not in self.engine.databases:
            owner = self.envs.by_catalog(catalog)
            where = owner.locate("unity_catalog", "schemas") if owner is not None else "no environment owns it"
            raise MissingSchema(f"schema {catalog}.{schema} does not exist: it is created by Terraform "
                                f"(unity_catalog.schemas, {where})")

    def _check(self, name: str, action: str) -> None:
        catalog, schema, table = split_name(name, self.catalog)
        decision = grants.decide(self.envs, self.principal, self.workspace_env, catalog, schema, table, action)
        if not decision.allowed:
            verb = {grants.READ: "read", grants.WRITE: "write", grants.CREATE: "create a table"}[action]
            raise PermissionRefused(self.principal, verb, f"{catalog}.{schema}.{table}", detail=decision.reason)
