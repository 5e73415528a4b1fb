"""The local embedded registry: one MLflow server on 127.0.0.1 provisioned from the environments.

    LocalRegistry(state_dir).up(plan) / .status() / .down()      server.py
    LocalAccessPlan, apply_plan                                   provision.py
    LocalRegistryAdapter(url, principal, password)                adapter.py
        .copy_version (copying.py -> artifacts.copy_tree -> stream_copy.py), files kept for the
        gates in the adapter's copy cache (copy_cache.py, private_tmp.py)
    workspace_for_catalog, split_full_name                        naming.py
"""

from promotion.local.adapter import LocalRegistryAdapter
from promotion.local.naming import split_full_name, workspace_for_catalog
from promotion.local.provision import LocalAccessPlan, apply_plan
from promotion.local.server import DEFAULT_STATE_DIR, LocalRegistry, LocalRegistryError, LocalRegistryStatus

__all__ = [
    "DEFAULT_STATE_DIR",
    "LocalAccessPlan",
    "LocalRegistry",
    "LocalRegistryAdapter",
    "LocalRegistryError",
    "LocalRegistryStatus",
    "apply_plan",
    "split_full_name",
    "workspace_for_catalog",
]
