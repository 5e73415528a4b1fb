"""The one interface every model registry adapter implements.

The promotion engine (promotion/promote.py) talks only to this interface, so the same gated flow runs
against the local embedded MLflow registry (promotion/local/) and against Databricks Unity Catalog
(promotion/databricks/). Full model names are always Unity Catalog three-part names
`catalog.schema.model` (`split_full_name`); an adapter maps them onto its own addressing (the local
adapter: catalog -> MLflow workspace, `schema.model` -> registered model name). Both read a registry's
`model_version` JSON with `version_from_json`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol


class RegistryError(Exception):
    """A registry call failed for a reason that is not a permission refusal."""


class PermissionRefused(RegistryError):
    """The acting principal may not do this. str() reads: principal X may not Y on Z."""

    def __init__(self, principal: str, action: str, target: str, detail: str = ""):
        self.principal, self.action, self.target, self.detail = principal, action, target, detail
        super().__init__(f"principal {principal} may not {action} on {target}")


class NotFound(RegistryError):
    """The model, version or alias does not exist (or is invisible to the acting principal)."""


@dataclass(frozen=True)
class ModelVersion:
    name: str                      # catalog.schema.model
    version: str                   # registry version number, as a string
    source: str = ""               # where the artifacts live (models:/..., runs:/..., dbfs:/..., s3://...)
    run_id: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    created_at_ms: int = 0
    status: str = "READY"

    @property
    def catalog(self) -> str:
        return self.name.split(".", 1)[0]


class InvalidName(RegistryError, ValueError):
    """A name a registry cannot address: not a three-part name (or, locally, no MLflow workspace for it)."""


def split_full_name(full_name: str) -> tuple[str, str, str]:
    """`catalog.schema.model` -> (catalog, schema, model); anything else is an InvalidName."""
    parts = full_name.split(".")
    if len(parts) != 3 or not all(parts):
        raise InvalidName(f"model name {full_name!r} is not a three-part name catalog.schema.model")
    return parts[0], parts[1], parts[2]


def version_from_json(data: dict[str, Any], name: str | None = None) -> ModelVersion:
    """A registry's `model_version` JSON object (MLflow and Unity Catalog share the shape) -> ModelVersion.
    `name` is the full name when the registry answers with its own (the local one says `schema.model`);
    aliases come as names (MLflow) or as `{"alias": ...}` objects (Unity Catalog)."""
    aliases = (entry["alias"] if isinstance(entry, dict) else entry for entry in data.get("aliases") or ())
    return ModelVersion(
        name=name or data["name"],
        version=str(data["version"]),
        source=data.get("source", "") or "",
        run_id=data.get("run_id", "") or "",
        tags={t["key"]: t.get("value", "") for t in data.get("tags") or []},
        aliases=tuple(sorted(aliases)),
        created_at_ms=int(data.get("creation_timestamp") or 0),
        status=data.get("status", "READY") or "READY",
    )


# Called with (bytes_done, bytes_total) while artifacts are copied; drives the progress bar.
ProgressCallback = Callable[[int, int], None]


def artifacts_digest(files: Iterable[tuple[str, int, str]]) -> str:
    """The SHA-256 digest of a version's artifacts: over `relpath TAB size TAB sha256 LF` per file,
    sorted by path. Both adapters compute it from the registry's own files (what an approval signs)."""
    digest = hashlib.sha256()
    for relpath, size, sha256 in sorted(files):
        digest.update(f"{relpath}\t{int(size)}\t{sha256}\n".encode())
    return digest.hexdigest()


class RegistryAdapter(Protocol):
    """What promotion needs from a registry, acting as one principal."""

    principal: str

    def get_version(self, name: str, version: str) -> ModelVersion: ...

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion | None: ...

    def list_versions(self, name: str) -> list[ModelVersion]: ...

    def find_version_by_tag(self, name: str, key: str, value: str) -> ModelVersion | None: ...

    def copy_version(
        self,
        source: ModelVersion,
        target_name: str,
        tags: dict[str, str],
        progress: ProgressCallback | None = None,
    ) -> ModelVersion:
        """Copy the source version's artifacts into the target model as a new version carrying `tags`.

        The new version must not reference the source's files (a real copy). Creates the target
        registered model if it does not exist.
        """
        ...

    def set_alias(self, name: str, alias: str, version: str) -> None: ...

    def delete_alias(self, name: str, alias: str) -> None: ...

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None: ...

    def delete_version(self, name: str, version: str) -> None:
        """Delete one version (its aliases go with it): how the claim (promotion/claim.py) discards
        a duplicate copy that lost a race. Raises PermissionRefused when the principal may not delete
        versions (the claim then marks the duplicate instead) and NotFound when it is already gone."""
        ...

    def load_pyfunc(self, name: str, version: str) -> Any:
        """Load the version as an mlflow.pyfunc model (for smoke-inference gates)."""
        ...

    def artifact_digest(self, name: str, version: str) -> str:
        """`artifacts_digest` of the version's files, read (and hashed) from the registry as this
        principal: what an approval signs and what the gates recheck a copy against."""
        ...

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        """Tag the registered model itself (the audit anchor lives there). NotFound when it does not exist."""
        ...

    def get_model_tag(self, name: str, key: str) -> str | None:
        """A registered-model tag, None when unset. NotFound when the model does not exist."""
        ...

    def model_info(self, name: str, version: str) -> dict[str, Any]:
        """The logged MLmodel metadata: {'signature': {...} | None, 'input_example': ... | None,
        'metrics': {name: float}} (metrics from the training run when the registry can reach it)."""
        ...
