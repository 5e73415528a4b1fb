"""Model serving endpoints: a Unity Catalog model version, AI Gateway inference tables in the monitoring
schema, rate limits, and CAN_QUERY for the declared consumers.

Terraform creates an endpoint serving the YAML's `version`; promotion then moves the served version (the
deploy job, running as the service principal, updates the endpoint), and Terraform ignores that change
so a later apply never rolls production back. The endpoint name, hence its URL, never changes.
Databricks refuses an endpoint whose model version does not exist yet: in a fresh environment, apply
after the first version arrives (first promotion or training run), e.g. `-target` the rest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct

from ...model.serving import ServingEndpoint
from .directory import Directory, slug
from .permissions import object_permissions

# What promotion changes after creation (Terraform must not undo it).
PROMOTION_MANAGED = ["config[0].served_entities[0].entity_version"]


@dataclass(frozen=True)
class ServingProps:
    catalog: str
    model_schema: str
    monitoring_schema: str
    service_principal: str                 # YAML name of the environment's service principal
    endpoints: Sequence[ServingEndpoint] = ()
    tags: Mapping[str, str] = field(default_factory=dict)


class Serving(Construct):
    """Attributes: `endpoints` (resources by name)."""

    def __init__(self, scope: Construct, id: str, props: ServingProps, directory: Directory):
        super().__init__(scope, id)
        from cdktn import TerraformResourceLifecycle
        from cdktn_provider_databricks.model_serving import (
            ModelServing, ModelServingAiGateway, ModelServingAiGatewayInferenceTableConfig, ModelServingAiGatewayRateLimits,
            ModelServingAiGatewayUsageTrackingConfig, ModelServingConfigA, ModelServingConfigServedEntities,
            ModelServingConfigTrafficConfig, ModelServingConfigTrafficConfigRoutes, ModelServingTags,
        )

        self.endpoints = {}
        for endpoint in props.endpoints:
            key = slug(endpoint.name)
            table = endpoint.inference_table
            self.endpoints[endpoint.name] = ModelServing(
                self, f"endpoint_{key}",
                name=endpoint.name,
                config=ModelServingConfigA(
                    served_entities=[ModelServingConfigServedEntities(
                        name=endpoint.model,
                        entity_name=f"{props.catalog}.{props.model_schema}.{endpoint.model}",
                        entity_version=str(endpoint.version),
                        workload_size=endpoint.workload_size,
                        workload_type=endpoint.workload_type,
                        scale_to_zero_enabled=endpoint.scale_to_zero,
                    )],
                    traffic_config=ModelServingConfigTrafficConfig(routes=[
                        ModelServingConfigTrafficConfigRoutes(served_entity_name=endpoint.model, traffic_percentage=100)]),
                ),
                ai_gateway=ModelServingAiGateway(
                    inference_table_config=ModelServingAiGatewayInferenceTableConfig(
                        enabled=table.enabled, catalog_name=props.catalog, schema_name=props.monitoring_schema,
                        table_name_prefix=endpoint.table_prefix,
                    ),
                    rate_limits=[ModelServingAiGatewayRateLimits(calls=limit.calls, key=limit.key,
                                                                 renewal_period=limit.renewal_period)
                                 for limit in endpoint.rate_limits] or None,
                    usage_tracking_config=ModelServingAiGatewayUsageTrackingConfig(enabled=endpoint.usage_tracking),
                ),
                tags=[ModelServingTags(key=k, value=v) for k, v in sorted(props.tags.items())] or None,
                lifecycle=TerraformResourceLifecycle(ignore_changes=PROMOTION_MANAGED),
            )
            # Consumers query; the service principal's deploy job moves the served version.
            levels = {name: "CAN_QUERY" for name in endpoint.consumers} | {props.service_principal: "CAN_MANAGE"}
            object_permissions(self, f"endpoint_{key}_permissions", directory, levels,
                               serving_endpoint_id=self.endpoints[endpoint.name].serving_endpoint_id)
