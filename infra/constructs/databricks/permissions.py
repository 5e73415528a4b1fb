"""Workspace object permissions (`databricks_permissions`): authoritative per object, so one resource per
object lists everyone. Entries come from the object's `permissions`/`users`/`consumers` in the YAML,
plus the service principal where the object's own automation needs it (said at each call site)."""

from __future__ import annotations

from typing import Mapping

from constructs import Construct

from .directory import Directory


def object_permissions(scope: Construct, id: str, directory: Directory, levels: Mapping[str, str], **object_ref):
    """`databricks_permissions` for one object (`job_id=...`, `cluster_id=...`); None when nobody is listed."""
    if not levels:
        return None
    from cdktn_provider_databricks.permissions import Permissions, PermissionsAccessControl

    controls = [PermissionsAccessControl(permission_level=levels[name], **directory.access_control(name))
                for name in sorted(levels)]
    return Permissions(scope, id, access_control=controls, **object_ref)
