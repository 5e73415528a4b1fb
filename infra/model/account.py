"""The Databricks account and the shared `account` stack, as written in environments/_account.yaml.

Account-level objects (account service principals, groups and members, the CI identities in Entra ID,
each environment's resource group and its deployer's Azure roles, metastore assignment and privileges)
belong to no single environment, so they live in one stack deployed first, by the platform's bootstrap
identity. Its state holds no secret: every environment's deployer may read it (application ids).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from .azure import StateBackend
from .base import Strict, Uuid

ACCOUNT_FILE = "_account.yaml"
ACCOUNT_STACK = "account"
ACCOUNTS_HOST = "https://accounts.azuredatabricks.net"


class Account(Strict):
    """The Databricks account every environment belongs to."""

    databricks_account_id: Uuid = Field(description="Databricks account id (account console, top right).")
    tenant_id: Uuid = Field(description="Entra ID tenant of the account and of every environment.")
    host: str = Field(ACCOUNTS_HOST, pattern=r"^https://[A-Za-z0-9.-]+$",
                      description="Account console host of the account-level provider.")
    deployer: str = Field(
        min_length=1,
        description="Who deploys the account stack: a Databricks account admin who may also create Entra "
                    "applications and assign roles in each environment's subscription (the bootstrap identity).")
    state: StateBackend = Field(default_factory=StateBackend,
                                description="Terraform state of the account stack (holds no secret).")

    @field_validator("state")
    @classmethod
    def _state_subscription(cls, state: StateBackend) -> StateBackend:
        # Environments' deployers read this state (application ids); its RBAC scope needs the subscription.
        if state.backend == "azurerm" and state.subscription_id is None:
            raise ValueError("subscription_id is required for the account stack's azurerm state")
        return state
