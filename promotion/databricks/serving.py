"""Point a model serving endpoint at the new champion, keeping the endpoint (and so its URL).

Only the served entity that serves `model_full_name` changes: its version, and its name when the name
carries the old version (`churn-3` -> `churn-4`), with traffic routes following the rename. Every other
setting of the entity (workload size, scale to zero, environment variables...) and every other served
entity is sent back as it is. The update is started, not awaited: Databricks rolls it out in the
background and keeps serving the previous version until the new one is ready.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.serving import Route, ServedEntityInput, TrafficConfig

from promotion.databricks.errors import mapped_errors
from promotion.registry import NotFound, RegistryError

log = logging.getLogger("lakegate.databricks")

_INPUT_FIELDS = {f.name for f in dataclasses.fields(ServedEntityInput)}


@dataclass(frozen=True)
class ServingUpdate:
    endpoint: str
    updated: bool
    detail: str                       # one readable sentence for people and the audit log
    previous_version: str | None = None
    version: str | None = None


def update_serving_endpoint(
    client: WorkspaceClient,
    endpoint_name: str,
    model_full_name: str,
    version: str,
    *,
    principal: str = "the configured principal",
) -> ServingUpdate:
    """Serve `version` of `model_full_name` from `endpoint_name`; skipped (not failed) when the
    endpoint does not exist yet or already serves that version."""
    version = str(version)
    try:
        with mapped_errors(principal, "read serving endpoint", endpoint_name):
            endpoint = client.serving_endpoints.get(endpoint_name)
    except NotFound:
        detail = (f"serving endpoint {endpoint_name} does not exist yet; nothing to update "
                  "(the infra stack creates it)")
        log.info(detail)
        return ServingUpdate(endpoint_name, False, detail, version=version)

    entities = list(endpoint.config.served_entities or []) if endpoint.config else []
    ours = [e for e in entities if e.entity_name == model_full_name]
    if not ours:
        served = ", ".join(f"{e.entity_name} v{e.entity_version}" for e in entities) or "nothing"
        raise RegistryError(f"serving endpoint {endpoint_name} serves {served}, not {model_full_name}; "
                            "refusing to change it")
    previous = ours[0].entity_version
    if all(e.entity_version == version for e in ours):
        return ServingUpdate(endpoint_name, False, f"serving endpoint {endpoint_name} already serves "
                             f"{model_full_name} version {version}", previous, version)

    renamed: dict[str, str] = {}
    new_entities = []
    for entity in entities:
        fields = {k: v for k, v in entity.as_dict().items() if k in _INPUT_FIELDS}
        if entity.entity_name == model_full_name:
            old_name, old_version = entity.name, entity.entity_version
            fields["entity_version"] = version
            if old_name and old_version and old_name.endswith(f"-{old_version}"):
                fields["name"] = old_name[: -len(old_version)] + version
                renamed[old_name] = fields["name"]
        new_entities.append(ServedEntityInput.from_dict(fields))

    traffic = endpoint.config.traffic_config
    if traffic and traffic.routes:
        traffic = TrafficConfig(routes=[
            Route(
                traffic_percentage=r.traffic_percentage,
                served_entity_name=renamed.get(r.served_entity_name, r.served_entity_name)
                if r.served_entity_name else None,
                served_model_name=renamed.get(r.served_model_name, r.served_model_name)
                if r.served_model_name else None,
            )
            for r in traffic.routes
        ])
    with mapped_errors(principal, "update serving endpoint", endpoint_name):
        # update_config returns a waiter; we deliberately do not wait for the rollout
        client.serving_endpoints.update_config(endpoint_name, served_entities=new_entities,
                                               traffic_config=traffic or None)
    detail = (f"serving endpoint {endpoint_name} now rolling out {model_full_name} version {version} "
              f"(was {previous})")
    log.info(detail)
    return ServingUpdate(endpoint_name, True, detail, previous, version)
