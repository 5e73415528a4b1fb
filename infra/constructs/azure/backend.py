"""Where a stack keeps its Terraform state: an azurerm blob (remote, locked) or a local file."""

from __future__ import annotations

from dataclasses import dataclass

from cdktn import TerraformStack

# Terraform runs in cdktf.out/stacks/<stack>/; state must live outside cdktf.out, which every synth
# replaces. Relative, so the synthesized JSON is the same on every machine.
LOCAL_STATE_DIR = "../../../.terraform-state"


@dataclass(frozen=True)
class StateBackendProps:
    key: str                                # state blob / file name, e.g. `prod-azure.tfstate`
    backend: str = "local"                  # `azurerm` or `local`
    resource_group_name: str | None = None  # azurerm: resource group of the state account
    storage_account_name: str | None = None # azurerm: account holding the state
    container_name: str | None = None       # azurerm: blob container holding the state
    use_oidc: bool = True                   # azurerm: federated token, never an access key or SAS

    @classmethod
    def for_stack(cls, stack_id: str, state) -> "StateBackendProps":
        """The props for one stack of an environment, from its `state:` section."""
        return cls(key=f"{stack_id}.tfstate", backend=state.backend, resource_group_name=state.resource_group,
                   storage_account_name=state.storage_account, container_name=state.container, use_oidc=state.use_oidc)


def attach_state_backend(stack: TerraformStack, props: StateBackendProps):
    """Attach the backend directly to the stack: a stack has exactly one, whatever its constructs."""
    from cdktn import AzurermBackend, LocalBackend

    if props.backend == "azurerm":
        return AzurermBackend(
            stack,
            resource_group_name=props.resource_group_name,
            storage_account_name=props.storage_account_name,
            container_name=props.container_name,
            key=props.key,
            use_oidc=props.use_oidc,
            use_azuread_auth=True,  # the state account, like ours, should refuse shared keys
        )
    if props.backend == "local":
        return LocalBackend(stack, path=f"{LOCAL_STATE_DIR}/{props.key}")
    raise ValueError(f"unknown state backend '{props.backend}' (expected azurerm or local)")
