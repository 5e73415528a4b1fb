"""databricks-sdk's side of the Azure credentials: a CredentialsStrategy sending an Entra token per request.

Imported only when a Config is built (importing databricks-sdk costs about a second).
"""

from __future__ import annotations

from typing import Any

from databricks.sdk.credentials_provider import CredentialsStrategy

from lakegate.promotion.errors import CredentialsError


class EntraTokenStrategy(CredentialsStrategy):
    """Every request carries an Entra token for `scope` (Azure Databricks).

    azure-identity caches the token and refreshes it shortly before expiry, so asking for it per
    request costs nothing after the first call.
    """

    def __init__(self, name: str, credential: Any, scope: str):
        self._name, self._credential, self._scope = name, credential, scope

    def auth_type(self) -> str:
        return self._name

    def __call__(self, cfg: Any):
        from azure.core.exceptions import ClientAuthenticationError

        def headers() -> dict[str, str]:
            try:
                token = self._credential.get_token(self._scope)
            except ClientAuthenticationError as e:
                raise CredentialsError(self._name, f"could not get an Entra token: {e.message}") from None
            return {"Authorization": f"Bearer {token.token}"}

        return headers

    def __repr__(self) -> str:
        return f"EntraTokenStrategy({self._name!r})"
