"""Who runs the preflight: the environment's own Azure credentials, as an ARM TokenCredential.

The credentials resolve exactly as promotion/credentials/ resolves them for Databricks (the same
strategies and rules: the environment's pinned strategy, or the single one configured; errors start
with the strategy name). `ArmToken` adapts the chosen azure-identity credential for ARM: it turns token
failures into the chain's `CredentialsError` (exit 11) or `Unreachable` (exit 9), and fetches one token
per run (the Azure CLI strategy would otherwise run `az` once per SDK client). `Caller` is read from
that token's claims: `oid` is what Azure RBAC assigns roles to.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import dataclass

from .arm import Unreachable, first_line, reason_of


@dataclass(frozen=True)
class Caller:
    strategy: str                 # credential strategy used, e.g. azure-workload-identity
    description: str              # what the strategy used (never secret)
    object_id: str | None         # `oid`
    application_id: str | None    # `appid` (v1 tokens) or `azp` (v2)
    tenant_id: str | None         # `tid`
    principal_type: str           # ServicePrincipal | User (for `az role assignment create`)

    def as_dict(self) -> dict:
        return {"strategy": self.strategy, "description": self.description, "object_id": self.object_id,
                "application_id": self.application_id, "tenant_id": self.tenant_id,
                "principal_type": self.principal_type}


class ArmToken:
    """azure-core TokenCredential: the strategy's credential, one token per run, errors of the chain."""

    def __init__(self, credentials, authority: str):
        self._credentials, self._authority = credentials, authority
        self._tokens: dict[tuple, object] = {}

    @property
    def strategy(self) -> str:
        return self._credentials.strategy

    @property
    def description(self) -> str:
        return self._credentials.description

    def get_token(self, *scopes: str, **kwargs):
        from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError, ServiceResponseError

        from lakegate.promotion.errors import CredentialsError

        cached = self._tokens.get(scopes)
        if cached is not None and cached.expires_on - 300 > time.time():
            return cached
        try:
            token = self._credentials.credential.get_token(*scopes, **kwargs)
        except (ServiceRequestError, ServiceResponseError) as error:
            raise Unreachable("Entra ID", self._authority, reason_of(error)) from None
        except ClientAuthenticationError as error:
            raise CredentialsError(self.strategy, "could not get an Entra token for Azure Resource Manager: "
                                   + first_line(error.message or str(error))) from None
        self._tokens[scopes] = token
        return token


def resolve_arm_credential(pinned: str | None) -> ArmToken:
    """The environment's credentials for ARM; CredentialsError (exit 11) when none, several or incomplete."""
    import os

    from lakegate.promotion.credentials import AzureCredentials, CredentialsError, azure_strategies, resolve_credentials

    credentials = resolve_credentials(azure_strategies(), pinned)
    if not isinstance(credentials, AzureCredentials):   # only reachable with a non-Azure strategy pinned
        raise CredentialsError(credentials.strategy, "is not an Azure credential; doctor needs one")
    authority = os.environ.get("AZURE_AUTHORITY_HOST") or "https://login.microsoftonline.com"
    return ArmToken(credentials, authority)


def identify(credential: ArmToken, scope: str) -> Caller:
    """Fetch the ARM token (Unreachable / CredentialsError on failure) and read who it belongs to."""
    token = credential.get_token(scope)
    claims = jwt_claims(token.token)
    if "idtyp" in claims:
        principal_type = "ServicePrincipal" if claims["idtyp"] == "app" else "User"
    else:   # delegated (a person's) tokens carry scopes; app-only tokens do not
        principal_type = "User" if "scp" in claims else "ServicePrincipal"
    return Caller(credential.strategy, credential.description, claims.get("oid"),
                  claims.get("appid") or claims.get("azp"), claims.get("tid"), principal_type)


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, unverified (ARM verifies it; this only reads who it is for). {} if not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except (binascii.Error, ValueError):
        return {}
    return claims if isinstance(claims, dict) else {}
