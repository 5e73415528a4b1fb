"""Model serving endpoints: AI Gateway inference tables in the monitoring schema, rate limits, usage tracking
and CAN_QUERY for the declared consumers; what they serve is promotion's to set.

A first apply happens before any model version exists (promotion makes version 1 later), and Databricks
refuses an endpoint that serves a version that does not exist (the failure of databricks/mlops-stacks#217).
So Terraform creates the endpoint without a served entity (`config` is optional) and never touches `config`
afterwards; the first promotion that sets a champion writes the config from the same YAML (served entity,
workload size and type, scale to zero, traffic) and every later one moves the version. The endpoint's name,
hence its URL, never changes, and a later apply never rolls production back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from constructs import Construct

from ...model.serving import ServingEndpoint
from .directory import Directory, slug
from .permissions import object_permissions

# What promotion owns after creation (Terraform must not undo it, nor recreate the endpoint for it).
PROMOTION_MANAGED = ["config"]


@dataclass(frozen=True)
class ServingProps:
    catalog: str                           # the catalog resource's name (a reference: the tables wait for it)
    monitoring_schema: str                 # the monitoring schema resource's name (a reference)
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
            ModelServingAiGatewayUsageTrackingConfig, ModelServingTags,
        )

        self.endpoints = {}
        for endpoint in props.endpoints:
            key = slug(endpoint.name)
            table = endpoint.inference_table
            self.endpoints[endpoint.name] = ModelServing(
                self, f"endpoint_{key}",
                name=endpoint.name,
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
