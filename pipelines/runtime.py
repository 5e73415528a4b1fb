"""Where a task runs: on a laptop (the local registry and lakehouse, as the environment's principal) or on a
Databricks cluster (Spark, Unity Catalog, the job's run-as principal). Tasks only talk to the runtime:

    rt = runtime.current(args.environment)
    frame = rt.tables.read("features.churn_features")
    with rt.mlflow():                       # MLflow's fluent API acting as the principal
        ...
    model, version = rt.load_model("prod.ml.churn", alias="champion")
    rt.set_task_value("drift", 0.31)        # dbutils.jobs.taskValues on Databricks
    rt.log("wrote 4000 rows")

`python main.py run` sets the runtime for each task (pipelines/runner.py); a task file run by itself finds it:
on Databricks from the cluster, locally from `--environment` and the state folder (`.lakegate`, or
LAKEGATE_STATE_DIR) and the definitions (`environments/`, or LAKEGATE_ENVIRONMENTS).
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

from lakegate.project import project_root

from .errors import MissingModel, PipelineError, UnknownJob
# Every task module parses its arguments through these (runtime.task_parser, runtime.parse, runtime.flag, ...).
from .task_arguments import extra_parameters, flag, model_arguments, parse, task_parser  # noqa: F401

CHAMPION = "champion"
_current: contextvars.ContextVar["Runtime | None"] = contextvars.ContextVar("lakegate_runtime", default=None)


def on_databricks() -> bool:
    return "DATABRICKS_RUNTIME_VERSION" in os.environ


class Runtime:
    """What a task may use. Subclasses: LocalRuntime (and SparkRuntime), DatabricksRuntime."""

    environment: str
    catalog: str
    principal: str
    tables: Any
    on_databricks = False

    def __init__(self):
        self.task_values: dict[str, Any] = {}
        self.messages: list[str] = []
        self.echo = True
        self.result: Any = None          # what the task wants its caller to have (e.g. the trained version)

    def set_task_value(self, key: str, value: Any) -> None:
        json.dumps(value)  # only JSON values can be task values (as on Databricks)
        self.task_values[key] = value

    def log(self, message: str) -> None:
        self.messages.append(message)
        if self.echo:
            print(f"  {message}", flush=True)

    def model_full_name(self, name: str) -> str:
        return self._own_model(name if name.count(".") == 2 else f"{self.catalog}.ml.{name}")

    def _own_model(self, full_name: str) -> str:
        """A model of this environment's catalog: a model never crosses environments (exit 4)."""
        from .parameters import check_confined

        check_confined("model_name", full_name, self.environment, self.catalog)
        return full_name


class LocalRuntime(Runtime):
    """The laptop: the local registry (as the environment's principal) and Delta tables under the state folder."""

    engine_name = "local"

    def __init__(self, envs, environment: str, state_dir: Path, *, principal: str | None = None):
        super().__init__()
        from lakegate.promotion.local.server import LocalRegistry

        from .tables import LocalTables

        if environment not in envs:
            raise UnknownJob(f"unknown environment {environment!r} (known: {', '.join(envs.names)})")
        self.envs, self.env = envs, envs[environment]
        self.environment, self.catalog = environment, self.env.unity_catalog.catalog
        self.principal = principal or self.env.service_principal
        self.state_dir = Path(state_dir)
        self.registry_server = LocalRegistry(self.state_dir)
        self.tables = LocalTables(self.state_dir / "lakehouse", envs, self.principal, environment)
        self._adapter = None

    @classmethod
    def from_defaults(cls, environment: str) -> "LocalRuntime":
        from lakegate.infra.loader import load_environments

        envs = load_environments(Path(os.environ.get("LAKEGATE_ENVIRONMENTS", project_root() / "environments")))
        return cls(envs, environment, Path(os.environ.get("LAKEGATE_STATE_DIR", project_root() / ".lakegate")))

    def model_full_name(self, name: str) -> str:
        return self._own_model(name if name.count(".") == 2 else self.env.unity_catalog.model_full_name(name))

    @property
    def registry(self):
        """The registry adapter acting as this runtime's principal (the local registry must be running)."""
        if self._adapter is None:
            from lakegate.promotion.local.server import LocalRegistryError

            if self.registry_server.status().state != "running":
                raise LocalRegistryError(f"the local registry in {self.state_dir} is not running: run "
                                         "`python main.py local up`")
            self._adapter = self.registry_server.adapter(self.principal)
        return self._adapter

    def password(self) -> str:
        from lakegate.promotion.local import secret_file

        return secret_file.user_password(self.registry_server.state_dir, self.principal)

    @contextlib.contextmanager
    def mlflow(self) -> Iterator[None]:
        """MLflow's fluent API on the local registry, as this principal, in this environment's workspace."""
        from lakegate.promotion.local.workspaces import workspace_for_catalog

        from .mlflow_login import acting_as

        url = self.registry.url
        with acting_as(url, self.principal, self.password(), workspace_for_catalog(self.catalog)):
            yield

    def registered_name(self, full_name: str) -> str:
        """The name MLflow's fluent API registers under: `schema.model` in the catalog's workspace."""
        from lakegate.promotion.local.workspaces import mlflow_address

        return mlflow_address(full_name)[1]

    def resolve_version(self, full_name: str, alias: str | None = CHAMPION, version: str | None = None) -> str:
        """`version`, else the alias's version; in an environment without a promotion source (where models are
        trained) a missing champion falls back to the newest version, as promotion's source does."""
        if version:
            return str(version)
        found = self.registry.get_version_by_alias(full_name, alias or CHAMPION)
        if found is not None:
            return found.version
        if self.env.promotion.from_env is None:
            versions = [v for v in self.registry.list_versions(full_name) if v.status == "READY"]
            if versions:
                return max(versions, key=lambda v: int(v.version)).version
        raise MissingModel(f"{full_name} has no version with alias {alias or CHAMPION} (promote one first)")

    def load_model(self, full_name: str, alias: str | None = CHAMPION, version: str | None = None):
        """(pyfunc model, version) loaded as this principal."""
        number = self.resolve_version(full_name, alias, version)
        return self.registry.load_pyfunc(full_name, number), number

    def scoring_model(self, full_name: str, alias: str | None = CHAMPION, version: str | None = None):
        """What `tables.predict` takes: the loaded model locally."""
        return self.load_model(full_name, alias, version)


class SparkRuntime(LocalRuntime):
    """The laptop through the Databricks code path (`run --engine spark`): the local registry as the environment's
    principal, tables through SparkTables on the process's local Spark session (pipelines/spark_engine.py),
    batch scoring with mlflow.pyfunc.spark_udf, task values through a dbutils (pipelines/spark_notebook.py)."""

    engine_name = "spark"

    def __init__(self, envs, environment: str, state_dir: Path, *, principal: str | None = None,
                 upstream_values: dict[str, dict[str, Any]] | None = None, widgets: dict[str, str] | None = None):
        super().__init__(envs, environment, state_dir, principal=principal)
        from .spark_engine import LocalSparkTables, engine
        from .spark_notebook import Dbutils

        self.engine = engine(self.state_dir)
        self.spark = self.engine.spark
        self.tables = LocalSparkTables(self.engine, self.state_dir / "lakehouse", envs, self.principal,
                                       environment, model_context=self.model_registry)
        self.dbutils = Dbutils(widgets or {}, super().set_task_value, upstream_values)

    def set_task_value(self, key: str, value: Any) -> None:
        self.dbutils.jobs.taskValues.set(key=key, value=value)

    def scoring_model(self, full_name: str, alias: str | None = CHAMPION, version: str | None = None):
        """A model URI, as on a cluster: SparkTables.predict scores it with spark_udf."""
        number = self.resolve_version(full_name, alias, version)
        return f"models:/{full_name}/{number}", number

    @contextlib.contextmanager
    def model_registry(self) -> Iterator[None]:
        """`models:/catalog.schema.model/N` resolved by the local registry as this principal (uc_uri's plugins)."""
        from lakegate.promotion.local import uc_uri

        uc_uri.register()
        with self.mlflow():
            os.environ["MLFLOW_REGISTRY_URI"] = f"{uc_uri.SCHEME}://{self.registry.url.split('://', 1)[1]}"
            yield  # acting_as restores MLFLOW_REGISTRY_URI on the way out


class DatabricksRuntime(Runtime):
    """A Databricks cluster: Spark tables, Unity Catalog as the job's run-as principal. Not exercised here."""

    on_databricks = True

    def __init__(self, environment: str, catalog: str):
        super().__init__()
        from pyspark.sql import SparkSession

        from .tables import SparkTables

        self.environment, self.catalog = environment, catalog
        self.spark = SparkSession.getActiveSession() or SparkSession.builder.getOrCreate()
        self.principal = self.spark.sql("SELECT current_user() AS u").collect()[0]["u"]
        self.tables = SparkTables(self.spark, catalog, self.principal)
        self._adapter = None

    @property
    def registry(self):
        if self._adapter is None:
            from databricks.sdk.core import Config

            from lakegate.promotion.databricks.adapter import UnityCatalogAdapter

            self._adapter = UnityCatalogAdapter(Config(), self.principal)
        return self._adapter

    @contextlib.contextmanager
    def mlflow(self) -> Iterator[None]:
        import mlflow

        mlflow.set_tracking_uri("databricks")
        mlflow.set_registry_uri("databricks-uc")
        yield

    def registered_name(self, full_name: str) -> str:
        return full_name

    def resolve_version(self, full_name: str, alias: str | None = CHAMPION, version: str | None = None) -> str:
        if version:
            return str(version)
        found = self.registry.get_version_by_alias(full_name, alias or CHAMPION)
        if found is None:
            raise MissingModel(f"{full_name} has no version with alias {alias or CHAMPION}")
        return found.version

    def load_model(self, full_name: str, alias: str | None = CHAMPION, version: str | None = None):
        import mlflow.pyfunc

        number = self.resolve_version(full_name, alias, version)
        with self.mlflow():
            return mlflow.pyfunc.load_model(f"models:/{full_name}/{number}"), number

    def scoring_model(self, full_name: str, alias: str | None = CHAMPION, version: str | None = None):
        """A model URI: SparkTables.predict scores it on the executors with mlflow.pyfunc.spark_udf."""
        number = self.resolve_version(full_name, alias, version)
        return f"models:/{full_name}/{number}", number

    def set_task_value(self, key: str, value: Any) -> None:
        super().set_task_value(key, value)
        from databricks.sdk.runtime import dbutils

        dbutils.jobs.taskValues.set(key=key, value=value)

    def log(self, message: str) -> None:
        self.messages.append(message)
        print(message, flush=True)


def current(environment: str, catalog: str | None = None) -> Runtime:
    """The runtime the runner set, else Databricks' (on a cluster), else the local one of `environment`."""
    runtime = _current.get()
    if runtime is not None:
        if runtime.environment != environment:
            raise UnknownJob(f"this task runs in {runtime.environment}, not {environment}")
        return runtime
    runtime = DatabricksRuntime(environment, catalog or environment) if on_databricks() \
        else LocalRuntime.from_defaults(environment)
    _current.set(runtime)
    return runtime


@contextlib.contextmanager
def using(runtime: Runtime) -> Iterator[Runtime]:
    token = _current.set(runtime)
    try:
        yield runtime
    finally:
        _current.reset(token)


# -- arguments: pipelines/task_arguments.py (re-exported above) -------------------------------------------


def notebook_argv() -> list[str]:
    """A Databricks notebook's widgets (job parameters pushed down + base parameters) as `--name=value`: the
    notebook's dbutils when the Spark engine runs it (pipelines/spark_notebook.py), else the cluster's."""
    from .spark_notebook import current as local_dbutils

    dbutils = local_dbutils()
    if dbutils is None:
        from databricks.sdk.runtime import dbutils
    return [f"--{name}={value}" for name, value in dbutils.widgets.getAll().items()]


def run_file(main: Callable[[list[str] | None], int]) -> None:
    """The bottom of every task file: run `main` with the job's arguments, wherever it was started."""
    from .spark_notebook import current as local_dbutils

    local_notebook = local_dbutils() is not None
    in_notebook = local_notebook or (on_databricks() and "__file__" not in sys.modules["__main__"].__dict__)
    try:
        code = main(notebook_argv() if in_notebook else None)
    except Exception as error:  # noqa: BLE001 -- a refusal is one line and its exit code; a bug its traceback
        # A task file is an entry point like main.py: its refusals leave through the CLI's one mapping.
        from lakegate.cli import exit_codes
        from lakegate.cli.failures import kind_of

        kind = kind_of(error)
        if in_notebook or kind is None:
            raise
        print(f"error: {error}", file=sys.stderr)
        code = getattr(exit_codes, kind)
    if in_notebook:
        if code:
            raise (PipelineError if local_notebook else RuntimeError)(f"task failed with exit code {code}")
        return
    sys.exit(code)
