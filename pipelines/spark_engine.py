"""The Spark engine (`python main.py run JOB --env ENV --engine spark`): the job's tasks on ONE local Spark session,
through the same SparkTables code a Databricks cluster runs (pipelines/tables.py), with what a cluster has and a
laptop has not supplied here:

- Unity Catalog's three-part names over Spark's two-level catalog: `dev.ml.churn_scores` is the Spark table
  `dev__ml.churn_scores` (a name mapping, no catalog plugin to build); a schema exists when the definitions
  declare it (`unity_catalog.schemas`: Terraform creates them), a table when its first writer wrote it;
- grants: local Spark enforces none, so every read and write is decided by pipelines/grants.py for the acting
  principal, as the local lakehouse does (a refusal raises promotion.registry.PermissionRefused);
- storage: parquet files under `<state-dir>/spark-lakehouse/<catalog>/<schema>/<table>` registered as external
  tables of Spark's in-memory catalog (re-registered from the folders when a process starts). No Delta: the
  Delta jars come from Maven at start-up, which is not reachable here; the table's version is a counter kept
  beside its files (`_lakegate_version`, which Spark's readers skip) and bumped by every write.

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

VERSION_FILE = "_lakegate_version"
_engine: "SparkEngine | None" = None


class SparkUnavailable(PipelineError):
    """The Spark engine cannot start here (no Java, no pyspark)."""


class MissingSchema(MissingTable):
    """A write into a schema the definitions do not declare (Terraform creates schemas, not jobs)."""


class SparkEngine:
    """One local Spark session and the lakehouse folder its catalog currently shows."""

    def __init__(self, spark, startup_seconds: float):
        self.spark, self.startup_seconds = spark, startup_seconds
        self.root: Path | None = None
        self.databases: set[str] = set()

    @property
    def version(self) -> str:
        return self.spark.version

    def attach(self, root: Path, envs) -> None:
        """Show the tables under `root` in the catalog (one lakehouse at a time per process: a test session moves
        between state folders). Databases for every declared schema; external tables dropped keep their files."""
        root = Path(root).resolve()
        declared = {database_name(env.unity_catalog.catalog, schema) for env in envs
                    for schema in env.unity_catalog.schema_names}
        for database in sorted(declared - self.databases):
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}")
        self.databases |= declared
        if root == self.root:
            return
        for database in sorted(self.databases):
            for table in self.spark.catalog.listTables(database):
                self.spark.sql(f"DROP TABLE IF EXISTS {database}.{table.name}")
        self.root = root
        for marker in sorted(root.glob(f"*/*/*/{VERSION_FILE}")):
            catalog, schema, table = marker.parent.relative_to(root).parts
            if database_name(catalog, schema) in self.databases:
                self.register(f"{database_name(catalog, schema)}.{table}", marker.parent)

    def register(self, spark_name: str, path: Path) -> None:
        """(Re)declare the external table over its files: the schema is the files' (merged after an append)."""
        self.spark.sql(f"DROP TABLE IF EXISTS {spark_name}")
        self.spark.sql(f"CREATE TABLE {spark_name} USING parquet OPTIONS (mergeSchema 'true') LOCATION '{path}'")


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
    """SparkTables on the local engine: Unity Catalog names mapped, grants decided here, parquet storage."""

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

    def spark_name(self, name: str) -> str:
        catalog, schema, table = split_name(name, self.catalog)
        return f"{database_name(catalog, schema)}.{table}"

    def exists(self, name: str) -> bool:
        self._check(name, grants.READ)
        return self._present(name)

    def _present(self, name: str) -> bool:
        self.engine.attach(self.root, self.envs)
        return bool(self.spark.catalog.tableExists(self.spark_name(name)))

    def read(self, name: str):
        if not self.exists(name):
            self._schema_exists(name)
            raise MissingTable(f"table {self.full_name(name)} does not exist")
        return self.spark.table(self.spark_name(name))

    def version(self, name: str) -> int | None:
        if not self.exists(name):
            return None
        return int((self.path(name) / VERSION_FILE).read_text())

    def write(self, name: str, frame, mode: str = "overwrite") -> int:
        """Write (overwrite) or append `frame`; the first writer creates the table. Returns its new version."""
        if mode not in ("overwrite", "append"):
            raise ValueError(f"mode must be overwrite or append, not {mode!r}")
        if not hasattr(frame, "inputFiles"):  # a pandas frame (e.g. the serving payload log's batch)
            frame = self.from_pandas(frame.reset_index(drop=True))
        creating = not self._present(name)
        self._check(name, grants.CREATE if creating else grants.WRITE)
        self._schema_exists(name)
        path = self.path(name)
        previous = None if creating else int((path / VERSION_FILE).read_text())
        if mode == "overwrite" and any(str(path) in f for f in frame.inputFiles()):
            frame = frame.localCheckpoint()   # overwriting what the frame reads: materialize it first
        frame.write.mode(mode).parquet(str(path))
        version = 0 if previous is None else previous + 1
        (path / VERSION_FILE).write_text(str(version))
        self.engine.register(self.spark_name(name), path)
        return version

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
