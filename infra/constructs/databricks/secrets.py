"""Databricks-backed secret scopes and their ACLs. Only scopes and who may use them are declared here;
secret values are put by people or pipelines with the CLI and never pass through the YAML or Terraform."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct

from ...model.tooling import SecretScope
from .directory import Directory, slug


@dataclass(frozen=True)
class SecretsProps:
    scopes: Sequence[SecretScope] = ()


class Secrets(Construct):
    """Attributes: `scopes` (resources by name)."""

    def __init__(self, scope: Construct, id: str, props: SecretsProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn_provider_databricks.secret_acl import SecretAcl
        from cdktn_provider_databricks.secret_scope import SecretScope as DbScope

        self.scopes = {}
        for secret_scope in props.scopes:
            key = slug(secret_scope.name)
            self.scopes[secret_scope.name] = DbScope(self, f"scope_{key}", name=secret_scope.name)
            for principal in sorted(secret_scope.acls):
                SecretAcl(self, f"scope_{key}_acl_{slug(principal)}",
                          scope=self.scopes[secret_scope.name].name,
                          principal=directory.secret_acl_principal(principal),
                          permission=secret_scope.acls[principal])
