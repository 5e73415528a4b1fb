"""Point a model serving endpoint at the new champion, keeping the endpoint (and so its URL).

Terraform creates the endpoint serving nothing (no version exists at the first apply) and never touches its
`config` (lifecycle ignore_changes). So the first champion writes the config from the YAML (`settings`: the
served entity is the version, with the endpoint's workload size and type and scale to zero, and it gets 100 %
of the traffic). After that only the served entity that serves `model_full_name` changes: its version, and its
name when the name carries the old version (`churn-3` -> `churn-4`), with traffic routes following the rename.
Every other setting of the entity and every other served entity is sent back as it is. The update is started,
not awaited: Databricks rolls it out in the background and keeps serving the previous version until the new one
is ready; `wait_until_served` waits for it and `query_endpoint` asks the endpoint (the deployment job's check).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from databricks.sdk import WorkspaceClient
from databricks.sdk.service.serving import Route, ServedEntityInput, TrafficConfig

from lakegate.promotion.databricks.errors import mapped_errors
from lakegate.promotion.registry import NotFound, RegistryError

log = logging.getLogger("lakegate.databricks")

_INPUT_FIELDS = {f.name for f in dataclasses.fields(ServedEntityInput)}


@dataclass(frozen=True)
class ServingUpdate:
    endpoint: str
    updated: bool
    detail: str                       # one readable sentence for people and the audit log
    previous_version: str | None = None
    version: str | None = None


def endpoint_settings(env, endpoint_name: str) -> dict | None:
    """The YAML's settings of one serving endpoint of `env` (what the first champion writes), None if unknown."""
    for endpoint in env.endpoints:
        if endpoint.name == endpoint_name:
            return {"name": endpoint.name, "model": env.unity_catalog.model_full_name(endpoint.model),
                    "workload_size": endpoint.workload_size, "workload_type": endpoint.workload_type,
                    "scale_to_zero": endpoint.scale_to_zero}
    return None


def first_config(model_full_name: str, version: str, settings: dict) -> tuple[list[ServedEntityInput], TrafficConfig]:
    """The config of an endpoint that serves nothing yet: the version, as the YAML sizes it, all the traffic."""
    from databricks.sdk.service.serving import ServingModelWorkloadType

    name = f"{model_full_name.split('.')[-1]}-{version}"
    entity = ServedEntityInput(
        name=name, entity_name=model_full_name, entity_version=str(version),
        workload_size=settings.get("workload_size", "Small"),
        workload_type=ServingModelWorkloadType(settings.get("workload_type", "CPU")),
        scale_to_zero_enabled=bool(settings.get("scale_to_zero", False)))
    return [entity], TrafficConfig(routes=[Route(served_entity_name=name, traffic_percentage=100)])


def update_serving_endpoint(
    client: WorkspaceClient,
    endpoint_name: str,
    model_full_name: str,
    version: str,
    *,
    principal: str = "the configured principal",
    settings: dict | None = None,
) -> ServingUpdate:
    """Serve `version` of `model_full_name` from `endpoint_name`; skipped (not failed) when the endpoint does not
    exist yet or already serves that version. An endpoint serving nothing gets its first config from `settings`
    (the YAML's, see `endpoint_settings`)."""
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
    if not entities:
        if not settings:
            raise RegistryError(f"serving endpoint {endpoint_name} serves nothing yet and no settings were given to "
                                "write its first config from (the environment's `serving` entry)")
        served, traffic = first_config(model_full_name, version, settings)
        with mapped_errors(principal, "update serving endpoint", endpoint_name):
            client.serving_endpoints.update_config(endpoint_name, served_entities=served, traffic_config=traffic)
        detail = (f"serving endpoint {endpoint_name} served nothing: first config written from the YAML "
                  f"({model_full_name} version {version}, {served[0].workload_size}, scale to zero "
                  f"{'on' if served[0].scale_to_zero_enabled else 'off'}, 100 % of the traffic)")
        log.info(detail)
        return ServingUpdate(endpoint_name, True, detail, None, version)
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


def wait_until_served(client: WorkspaceClient, endpoint_name: str, model_full_name: str, version: str, *,
                      timeout_seconds: float = 1800, poll_seconds: float = 10,
                      principal: str = "the configured principal") -> None:
    """Until the endpoint's rollout ended with `version` serving (RegistryError if it failed or took too long)."""
    import time

    deadline = time.monotonic() + timeout_seconds
    while True:
        with mapped_errors(principal, "read serving endpoint", endpoint_name):
            endpoint = client.serving_endpoints.get(endpoint_name)
        update = endpoint.state.config_update.value if endpoint.state and endpoint.state.config_update else "NOT_UPDATING"
        entities = (endpoint.config.served_entities or []) if endpoint.config else []
        serving = {e.entity_version for e in entities if e.entity_name == model_full_name}
        if update == "UPDATE_FAILED":
            raise RegistryError(f"serving endpoint {endpoint_name}: the rollout of {model_full_name} version {version} "
                                "failed (see the endpoint's events)")
        if update == "NOT_UPDATING" and str(version) in serving:
            return
        if time.monotonic() > deadline:
            raise RegistryError(f"serving endpoint {endpoint_name} does not serve {model_full_name} version {version} "
                                f"after {timeout_seconds:.0f} s (update state {update})")
        time.sleep(poll_seconds)


def query_endpoint(client: WorkspaceClient, endpoint_name: str, request: dict, *,
                   principal: str = "the configured principal") -> list:
    """Ask the endpoint one scoring request (`dataframe_split` or `dataframe_records`); its predictions."""
    from databricks.sdk.service.serving import DataframeSplitInput

    with mapped_errors(principal, "query serving endpoint", endpoint_name):
        if "dataframe_split" in request:
            split = request["dataframe_split"]
            answer = client.serving_endpoints.query(endpoint_name, dataframe_split=DataframeSplitInput(
                columns=split.get("columns"), data=split.get("data")))
        else:
            answer = client.serving_endpoints.query(endpoint_name, dataframe_records=request["dataframe_records"])
    return list(answer.predictions or [])
