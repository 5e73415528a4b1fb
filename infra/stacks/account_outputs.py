"""How an environment's stack reads the account stack: its outputs, through a read-only remote state.

Written explicitly (not as cdktn cross-stack references) so that the account stack's JSON is the same
whichever environments are synthesized with it: an incremental synth rebuilds one environment and must
leave the account stack byte-identical. The account state holds no secret; each environment's deployer
has Storage Blob Data Reader on its container and nothing else of it (infra/access.py deployer_roles).
"""

from __future__ import annotations

from constructs import Construct

from ..constructs.azure.backend import LOCAL_STATE_DIR
from ..model.account import ACCOUNT_STACK, Account


def application_id_output(env_name: str) -> str:
    """The account stack's output holding env's service principal application (client) id."""
    return f"application_id_{env_name.replace('-', '_')}"


class AccountOutputs(Construct):
    """`application_id(env)`: a token read from the account stack's state at plan time."""

    def __init__(self, scope: Construct, id: str, account: Account):
        super().__init__(scope, id)
        from cdktn import DataTerraformRemoteStateAzurerm, DataTerraformRemoteStateLocal

        state, key = account.state, f"{ACCOUNT_STACK}.tfstate"
        if state.backend == "azurerm":
            self.remote = DataTerraformRemoteStateAzurerm(
                self, "state", subscription_id=state.subscription_id, resource_group_name=state.resource_group,
                storage_account_name=state.storage_account, container_name=state.container, key=key,
                use_oidc=state.use_oidc, use_azuread_auth=True)
        else:
            self.remote = DataTerraformRemoteStateLocal(self, "state", path=f"{LOCAL_STATE_DIR}/{key}")
        self._read: dict[str, str] = {}

    def application_id(self, env_name: str) -> str:
        if env_name not in self._read:
            self._read[env_name] = self.remote.get_string(application_id_output(env_name))
        return self._read[env_name]
