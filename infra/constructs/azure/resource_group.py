"""An environment's resource group: everything of the `<env>-azure` stack lives in it. The account stack
creates it, so that the environment's deployer can be given roles on it before its first deploy."""

from __future__ import annotations

from dataclasses import dataclass, field

from constructs import Construct


@dataclass(frozen=True)
class ResourceGroupProps:
    name: str
    location: str
    tags: dict[str, str] = field(default_factory=dict)
    provider: object = None   # the azurerm provider of the group's subscription (a stack spanning several)


class EnvironmentResourceGroup(Construct):
    """Out: `name` and `location` (tokens, so dependants wait for the group), `id`."""

    def __init__(self, scope: Construct, id: str, props: ResourceGroupProps):
        super().__init__(scope, id)
        from cdktn_provider_azurerm.resource_group import ResourceGroup

        self.resource = ResourceGroup(self, "group", name=props.name, location=props.location, tags=props.tags,
                                      provider=props.provider)
        self.name: str = self.resource.name
        self.location: str = self.resource.location
        self.id: str = self.resource.id
