"""`azure-client-secret`: a service principal's long-lived client secret from environment variables."""

from __future__ import annotations

from .azure import CLIENT_ID, TENANT_ID, AzureCredentials, AzureStrategy
from .base import Secret, first_set, log

CLIENT_SECRET = ("ARM_CLIENT_SECRET", "AZURE_CLIENT_SECRET")


class AzureClientSecret(AzureStrategy):
    """A service principal's client secret from environment variables (long-lived: OIDC is preferred)."""

    name = "azure-client-secret"
    fields = (*CLIENT_ID, *TENANT_ID, *CLIENT_SECRET, "AZURE_AUTHORITY_HOST")

    def applies(self) -> bool:
        return first_set(CLIENT_SECRET) is not None

    def how_to_configure(self) -> str:
        return f"{self.name}: set ARM_CLIENT_ID, ARM_TENANT_ID and ARM_CLIENT_SECRET (or the AZURE_* names)"

    def build(self) -> AzureCredentials:
        from azure.identity import ClientSecretCredential

        client_id, tenant_id = self.client_id(), self.tenant_id()
        secret = Secret(self._one(CLIENT_SECRET, "client secret"))
        log.warning("%s: a long-lived client secret is in use; prefer azure-workload-identity (OIDC "
                    "federation from CI), which needs no stored secret", self.name)
        credential = ClientSecretCredential(tenant_id=tenant_id, client_id=client_id, client_secret=secret.reveal())
        return AzureCredentials(self.name, f"client secret, client {client_id}, tenant {tenant_id}", credential,
                                client_id=client_id, tenant_id=tenant_id)
