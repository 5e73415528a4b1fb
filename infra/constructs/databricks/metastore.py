"""An environment's workspace on the Unity Catalog metastore: the metastore assignment and the privileges its
deployer needs there (create its catalog, storage credential and external locations).

Both need the workspace's numeric id, which exists only once `<env>-azure` has created the workspace, so the
account stack emits them for environments that declare `workspace.id`. Until then Azure Databricks' automatic
Unity Catalog enablement assigns a new workspace to the region's metastore and gives its admins (the
environment's deployer created the workspace) these privileges; `<env>-databricks` checks the metastore.

The grant is `databricks_grant` (authoritative for one principal), never `databricks_grants` on the metastore,
which would revoke every other principal's metastore privileges in a metastore shared with other teams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct


@dataclass(frozen=True)
class WorkspaceOnMetastoreProps:
    metastore_id: str
    workspace_id: int
    deployer_application_id: str          # the environment's service principal (token/literal)
    privileges: Sequence[str]
    depends_on: Sequence[object] = ()     # the account service principal must exist before it is granted


class WorkspaceOnMetastore(Construct):
    def __init__(self, scope: Construct, id: str, props: WorkspaceOnMetastoreProps):
        super().__init__(scope, id)
        from cdktn_provider_databricks.grant import Grant, GrantProviderConfig
        from cdktn_provider_databricks.metastore_assignment import MetastoreAssignment

        self.assignment = MetastoreAssignment(self, "assignment", metastore_id=props.metastore_id,
                                              workspace_id=props.workspace_id)
        # Unity Catalog grants are a workspace-level API: reach it through the workspace just assigned.
        self.grant = Grant(
            self, "deployer", metastore=props.metastore_id, principal=props.deployer_application_id,
            privileges=sorted(props.privileges),
            provider_config=GrantProviderConfig(workspace_id=str(props.workspace_id)),
            depends_on=[self.assignment, *props.depends_on],
        )
