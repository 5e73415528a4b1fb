"""Databricks SDK errors -> the registry interface's errors, in one place."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from databricks.sdk.errors import DatabricksError, PermissionDenied
from databricks.sdk.errors import NotFound as SdkNotFound

from lakegate.promotion.registry import NotFound, PermissionRefused, RegistryError


@contextmanager
def mapped_errors(principal: str, action: str, target: str) -> Iterator[None]:
    """403 / PERMISSION_DENIED -> PermissionRefused; 404 / RESOURCE_DOES_NOT_EXIST -> NotFound;
    any other REST error -> RegistryError naming the action and target."""
    try:
        yield
    except PermissionDenied as e:
        raise PermissionRefused(principal, action, target, detail=str(e)) from e
    except SdkNotFound as e:  # also ResourceDoesNotExist, its subclass
        raise NotFound(f"{target}: {e}") from e
    except DatabricksError as e:
        raise RegistryError(f"{action} on {target} failed: {e}") from e
