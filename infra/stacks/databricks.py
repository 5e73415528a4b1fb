"""`<env>-databricks` (placeholder until the Databricks layer lands: provider wiring only)."""

from __future__ import annotations

from constructs import Construct
from cdktn import TerraformStack

from ..model import Environment, Environments
from .foundation import AzureFoundation


class DatabricksStack(TerraformStack):
    def __init__(self, scope: Construct, id: str, *, env: Environment, envs: Environments, foundation: AzureFoundation):
        super().__init__(scope, id)
        self.env = env
