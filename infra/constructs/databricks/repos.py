"""Git folders (repos) checked out in the workspace, and who may use them.

Checking out a private repository needs a Git credential for the identity that applies the stack; it is
configured once per principal outside the YAML (never a token in this project's files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from constructs import Construct

from ...model.tooling import GitFolder
from .directory import Directory, slug
from .permissions import object_permissions


@dataclass(frozen=True)
class ReposProps:
    folders: Sequence[GitFolder] = ()


class Repos(Construct):
    """Attributes: `folders` (resources by workspace path)."""

    def __init__(self, scope: Construct, id: str, props: ReposProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn_provider_databricks.repo import Repo, RepoSparseCheckout

        self.folders = {}
        for folder in props.folders:
            key = slug(folder.path.strip("/"))
            self.folders[folder.path] = Repo(
                self, f"repo_{key}",
                url=folder.url,
                git_provider=folder.provider,
                path=folder.path,
                branch=folder.branch,
                sparse_checkout=RepoSparseCheckout(patterns=list(folder.sparse_checkout)) if folder.sparse_checkout else None,
            )
            object_permissions(self, f"repo_{key}_permissions", directory, folder.permissions,
                               repo_id=self.folders[folder.path].id)
