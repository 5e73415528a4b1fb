"""`azure-cli`: a person signed in with `az login`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .azure import TENANT_ID, AzureCredentials, AzureStrategy, switched_off
from .base import first_set


class AzureCli(AzureStrategy):
    """Applies when `az` is on PATH and has a signed-in account.

    `ARM_USE_CLI=false` (Terraform's switch) turns it off: a CI job that signed in the CLI (azure/login,
    AzureCLI@2) but authenticates with OIDC says so, and exactly one strategy applies."""

    name = "azure-cli"
    fields = ("PATH", "AZURE_CONFIG_DIR", "ARM_USE_CLI", *TENANT_ID)

    def _profile(self) -> Path:
        config_dir = os.environ.get("AZURE_CONFIG_DIR") or str(Path.home() / ".azure")
        return Path(config_dir) / "azureProfile.json"

    def _signed_in(self) -> bool:
        try:
            # az writes the profile with a byte-order mark
            profile = json.loads(self._profile().read_text(encoding="utf-8-sig"))
        except (OSError, ValueError):
            return False
        return bool(profile.get("subscriptions"))

    def applies(self) -> bool:
        return not switched_off("ARM_USE_CLI") and shutil.which("az") is not None and self._signed_in()

    def how_to_configure(self) -> str:
        return f"{self.name}: install the Azure CLI and run `az login`"

    def build(self) -> AzureCredentials:
        from azure.identity import AzureCliCredential

        found = first_set(TENANT_ID)
        tenant_id = found[1] if found else self.default_tenant
        credential = AzureCliCredential(tenant_id=tenant_id) if tenant_id else AzureCliCredential()
        return AzureCredentials(self.name, f"Azure CLI account ({self._profile()})", credential, tenant_id=tenant_id)
