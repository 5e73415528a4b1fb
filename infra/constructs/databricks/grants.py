"""Unity Catalog grants (`databricks_grants`), exactly those `infra/access.py` derives for this stack.

Nothing here decides who gets what. `access.grants_owned_by(env, envs)` returns every grant on a securable
of this environment's catalog, whichever file declared it, and each carries its `origin`:

* `environments/prod.yaml:61` for a grant written in a `grants:` list (file and line of the entry);
* `derived: <env>'s service principal registers its models (environments/<env>.yaml:<line>)` for the
  USE CATALOG / USE SCHEMA / CREATE MODEL the environment's own service principal needs;
* `derived: promotion dev -> staging (environments/staging.yaml:<line>)` for what a promotion target's
  service principal needs on its source (USE CATALOG, USE SCHEMA, EXECUTE), from the target's
  `promotion.from` line.

`databricks_grants` is authoritative per securable, so all principals of one securable go into one
resource (merged by `access.merged_privileges`), emitted by the stack that owns the securable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from constructs import Construct

from ...access import EffectiveGrant, merged_privileges
from .directory import Directory


@dataclass(frozen=True)
class GrantsProps:
    grants: Sequence[EffectiveGrant]                      # access.grants_owned_by(env, envs)
    securables: Mapping[tuple[str, str], object]          # (type, full name) -> resource managed in this stack
    principal_depends_on: Mapping[str, object] = None     # principal name -> resource that brings it here (a group's workspace assignment)


class UnityCatalogGrants(Construct):
    """Attributes: `resources`, a map `(type, full name) -> databricks_grants`."""

    def __init__(self, scope: Construct, id: str, props: GrantsProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn_provider_databricks.grants import Grants, GrantsGrant

        self.resources = {}
        for (kind, name), by_principal in sorted(merged_privileges(list(props.grants)).items()):
            securable = props.securables.get((kind, name))
            # The securable's id is its full name: referencing it orders the grant after its creation.
            reference = securable.id if securable is not None else name
            depends_on = [r for p, r in (props.principal_depends_on or {}).items() if p in by_principal]
            self.resources[(kind, name)] = Grants(
                self, f"{kind}_{name.replace('.', '_')}",
                grant=[GrantsGrant(principal=directory.grant_principal(principal), privileges=sorted(privileges))
                       for principal, privileges in sorted(by_principal.items())],
                depends_on=depends_on or None,
                **{kind: reference},
            )
