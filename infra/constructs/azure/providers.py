"""The azurerm (and, when the stack manages Entra objects, azuread) providers: OIDC only, never a secret."""

from __future__ import annotations

from dataclasses import dataclass

from constructs import Construct


@dataclass(frozen=True)
class AzureProvidersProps:
    subscription_id: str
    tenant_id: str
    with_azuread: bool = False  # configure azuread too (only when the stack creates Entra objects)
    use_oidc: bool = True       # CI authenticates with a federated token; locally `az login` still works
    alias: str | None = None    # a stack spanning several subscriptions has one azurerm provider per subscription


class AzureProviders(Construct):
    """Configures the providers of one stack. Credentials come from the environment at plan time (ARM_*)."""

    def __init__(self, scope: Construct, id: str, props: AzureProvidersProps):
        super().__init__(scope, id)
        from cdktn_provider_azurerm.provider import AzurermProvider, AzurermProviderFeatures

        self.azurerm = AzurermProvider(
            self, "azurerm",
            features=[AzurermProviderFeatures()],
            subscription_id=props.subscription_id,
            tenant_id=props.tenant_id,
            use_oidc=props.use_oidc,
            # Storage accounts refuse shared keys: data-plane calls must use Entra ID.
            storage_use_azuread=True,
            alias=props.alias,
        )
        self.azuread = None
        if props.with_azuread:
            from cdktn_provider_azuread.provider import AzureadProvider

            self.azuread = AzureadProvider(self, "azuread", tenant_id=props.tenant_id, use_oidc=props.use_oidc)
