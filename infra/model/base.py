"""Shared building blocks of the environment model."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict


class Strict(BaseModel):
    """Every model refuses unknown keys: a typo in a reviewed YAML file must never pass silently."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _matches(pattern: str, what: str):
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what}")
        return value

    return AfterValidator(check)


# Names that end up in Terraform resource ids, Azure names and Unity Catalog identifiers.
EnvName = Annotated[str, _matches(r"[a-z][a-z0-9-]{1,20}", "environment name (lowercase letters, digits, '-')")]
Identifier = Annotated[str, _matches(r"[a-z][a-z0-9_]{0,62}", "Unity Catalog identifier (lowercase, digits, '_')")]
PrincipalName = Annotated[str, _matches(r"[A-Za-z0-9][A-Za-z0-9 ._@-]{0,127}", "principal name")]
Uuid = Annotated[
    str,
    _matches(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "UUID"),
]
StorageAccountName = Annotated[str, _matches(r"[a-z0-9]{3,24}", "storage account name (3-24 lowercase letters/digits)")]
AzureName = Annotated[str, _matches(r"[A-Za-z0-9][A-Za-z0-9._-]{0,88}[A-Za-z0-9_]", "Azure resource name")]
ContainerName = Annotated[str, _matches(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", "storage container name")]
# Git providers, as Databricks spells them (repos and job sources).
GitProvider = Literal["gitHub", "azureDevOpsServices", "gitLab", "bitbucketCloud"]
