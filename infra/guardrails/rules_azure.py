"""Guardrails over the Azure foundation: state, workspace, storage, monitoring, tags."""

from __future__ import annotations

from .rule import at, rule

MANDATORY_TAGS = ("environment", "owner")


@rule("LG-PROD-001", "error", "production must keep Terraform state in a remote azurerm backend",
      """Local state on a laptop or CI runner is lost, unlocked and unaudited: two applies can race and a
      lost file orphans every production resource.""", production_only=True)
def prod_remote_state(env, envs):
    if env.state.backend != "azurerm":
        yield at(f"state.backend={env.state.backend}", "state", "backend")


@rule("LG-PROD-002", "error", "production cluster nodes must have no public IP (secure cluster connectivity)",
      """Public IPs on cluster nodes expose production compute to the internet; secure cluster
      connectivity keeps all traffic on the Azure backbone.""", production_only=True)
def prod_no_public_ip(env, envs):
    if not env.workspace.no_public_ip:
        yield at(f"workspace={env.workspace.name}", "workspace", "no_public_ip")


@rule("LG-PROD-003", "error", "production workspace must use the premium SKU",
      """Unity Catalog, table access control, cluster policies and audit logs need premium; a standard
      workspace cannot enforce the grants this project declares.""", production_only=True)
def prod_premium(env, envs):
    if env.workspace.sku != "premium":
        yield at(f"sku={env.workspace.sku}", "workspace", "sku")


@rule("LG-PROD-004", "error", "production workspace must be injected into its own VNet",
      """VNet injection puts production clusters behind the environment's own NSG and routes, so egress
      can be controlled and inspected.""", production_only=True)
def prod_vnet_injection(env, envs):
    if env.workspace.vnet is None:
        yield at(f"workspace={env.workspace.name}", "workspace", "vnet")


@rule("LG-PROD-005", "error", "production workspace logs must go to Log Analytics (Azure Monitor)",
      """Without diagnostic logs nobody can answer who did what in production; auditors and incident
      responders need them retained centrally.""", production_only=True)
def prod_log_analytics(env, envs):
    if env.monitoring.log_analytics is None:
        yield at("monitoring.log_analytics=none", "monitoring", "log_analytics")


@rule("LG-STORAGE-001", "error", "storage must deny anonymous public blob access",
      """Anonymous blob access publishes data to anyone with the URL; Unity Catalog storage must only be
      reached through the access connector.""")
def storage_no_public_blobs(env, envs):
    if env.storage.allow_public_blob_access:
        yield at(f"storage={env.storage.account_name}", "storage", "allow_public_blob_access")


@rule("LG-STORAGE-002", "error", "storage must require TLS 1.2 or newer",
      """TLS 1.0 and 1.1 have known weaknesses and are retired by Azure; data in transit must use a
      current protocol.""")
def storage_tls(env, envs):
    if env.storage.min_tls_version in ("TLS1_0", "TLS1_1"):
        yield at(f"min_tls_version={env.storage.min_tls_version}", "storage", "min_tls_version")


@rule("LG-STORAGE-003", "warning", "production storage should not be reachable from public networks",
      """Even with authentication, a public endpoint widens the attack surface of production data;
      prefer private endpoints or trusted services only.""", production_only=True)
def prod_storage_private(env, envs):
    if env.storage.public_network_access:
        yield at(f"storage={env.storage.account_name}", "storage", "public_network_access")


@rule("LG-TAG-001", "error", "every resource must carry the environment and owner tags, set by lakegate",
      """Cost reports, incident routing and audits find resources by these tags; free-form tags must not
      override them with other values.""")
def mandatory_tags(env, envs):
    if not env.owner.strip():
        yield at("owner=", "owner")
    for key in MANDATORY_TAGS:
        if key in env.azure.tags and env.azure.tags[key] != env.tags[key]:
            yield at(f"tag={key}", "azure", "tags", key)
