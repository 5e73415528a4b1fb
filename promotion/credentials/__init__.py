"""Who am I? Credentials resolved through a chain of named strategies, like databricks-sdk's unified auth.

Each strategy is one module declaring its name and the fields it reads, returning None from `resolve()`
when it does not apply, and failing with a CredentialsError (promotion/errors.py) that starts with its
name. Secrets are held in `Secret`, which prints as `***`; the strategy used is logged, a secret never is.

    base.py               Strategy, Secret, the `lakegate.credentials` logger
    azure.py              the Azure strategies' variable names and result (AzureCredentials)
    workload_identity.py  azure-workload-identity (OIDC federation from CI or AKS)
    client_secret.py      azure-client-secret
    azure_cli.py          azure-cli (`az login`)
    local_password.py     local-password (the local embedded registry's credentials file)
    chain.py              the registry of strategies (STRATEGY_NAMES) and the rules that pick one
    databricks_auth.py    the databricks-sdk CredentialsStrategy an AzureCredentials configures

Which workspace is promotion/databricks/factory.py's business (DATABRICKS_HOST, profiles).
"""

from lakegate.promotion.errors import CredentialsError

from .azure import AZURE_DATABRICKS_SCOPE, AzureCredentials
from .azure_cli import AzureCli
from .base import Secret, Strategy
from .chain import (STRATEGY_NAMES, azure_credentials, azure_strategies, databricks_config, local_login,
                    resolve_credentials)
from .client_secret import AzureClientSecret
from .local_password import LocalLogin, LocalPassword
from .workload_identity import AzureWorkloadIdentity

__all__ = [
    "AZURE_DATABRICKS_SCOPE", "STRATEGY_NAMES", "AzureCli", "AzureClientSecret", "AzureCredentials",
    "AzureWorkloadIdentity", "CredentialsError", "LocalLogin", "LocalPassword", "Secret", "Strategy",
    "azure_credentials", "azure_strategies", "databricks_config", "local_login", "resolve_credentials",
]
