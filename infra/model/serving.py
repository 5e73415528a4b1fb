"""Model serving endpoints: a Unity Catalog model version behind a REST endpoint, with inference tables,
rate limits and the consumers allowed to query it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Identifier, PrincipalName, Strict


class RateLimit(Strict):
    calls: int = Field(gt=0, description="Queries allowed per renewal period.")
    key: Literal["endpoint", "user"] = Field("endpoint", description="Count for the whole endpoint or per user.")
    renewal_period: Literal["minute"] = Field("minute", description="Period the count is reset after.")


class InferenceTable(Strict):
    """AI Gateway inference table: every request and response logged into the monitoring schema."""

    enabled: bool = Field(True, description="Log requests and responses.")
    table_prefix: Identifier | None = Field(
        None, description="Table name prefix (`<prefix>_payload`); default the endpoint name with '_' for '-'."
    )


def online_store_name(environment: str) -> str:
    """The environment's online store (one per workspace): the stack creates it, the feature-refresh job publishes
    to it; both take the name from here."""
    return f"lakegate-{environment.lower().replace('_', '-')}-features"


class OnlineStore(Strict):
    """The environment's Databricks Online Feature Store (Lakebase): where an endpoint serving by key looks its
    features up. One per environment, shared by every endpoint that serves by key (the largest settings win)."""

    capacity: Literal["CU_1", "CU_2", "CU_4", "CU_8"] = Field("CU_1", description="Compute units of the store.")
    read_replicas: int = Field(0, ge=0, le=2, description="Read replicas (availability of lookups; prod: 1).")


class FeatureLookup(Strict):
    """Serving by key: a request gives only the key; the endpoint looks the model's features up in its feature
    table (locally the Delta table, as the serving principal; on Databricks the table's online copy)."""

    table: str = Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$",
                       description="Feature table (`schema.table` in the environment's catalog).")
    key: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$", description="Key column a request gives.")
    online_store: OnlineStore = Field(default_factory=OnlineStore, description="The online store's size.")

    @property
    def online_table(self) -> str:
        """The synced (online) copy the feature-refresh job publishes: `<schema>.<table>_online`."""
        return f"{self.table}_online"


class ServingEndpoint(Strict):
    """A serving endpoint for one registered model of the environment's catalog.

    Terraform creates it serving nothing (no model version exists at the first apply); the first promotion
    that sets a champion writes its served entity from these settings, later ones move the version, and
    Terraform leaves that alone (the endpoint URL stays the same across promotions).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", description="Endpoint name (part of its URL).")
    model: Identifier = Field(description="Registered model served (models).")
    workload_size: Literal["Small", "Medium", "Large"] = Field(
        "Small", description="Concurrency per replica set (applied by promotion with the first champion).")
    workload_type: Literal["CPU", "GPU_SMALL", "GPU_MEDIUM", "GPU_LARGE", "MULTIGPU_MEDIUM"] = Field(
        "CPU", description="Hardware of the replicas."
    )
    scale_to_zero: bool = Field(False, description="Stop all replicas when idle (cold starts; not for production).")
    inference_table: InferenceTable = Field(default_factory=InferenceTable, description="Request/response logging.")
    rate_limits: list[RateLimit] = Field(default_factory=list, description="AI Gateway rate limits.")
    usage_tracking: bool = Field(True, description="Record usage in system tables.")
    consumers: list[PrincipalName] = Field(default_factory=list, description="Groups/users granted CAN_QUERY.")
    signature_checking: Literal["strict", "lenient"] = Field(
        "strict", description="How `serve` checks a request against the model's signature. strict: an unknown, "
        "missing or null column, a value of the wrong type (`true` or a string for a number, a number for a "
        "string) or an empty input is refused with a 400 naming the column; lenient: what `mlflow models serve` "
        "does (unknown columns ignored, values coerced), still never a 5xx.")
    feature_lookup: FeatureLookup | None = Field(
        None, description="Serve by key: `{\"dataframe_records\": [{\"<key>\": ...}]}` is answered with the "
        "features looked up in `table` (docs/serving-by-key.md); null: every request carries the features.")

    @field_validator("rate_limits")
    @classmethod
    def _one_limit_per_key(cls, limits: list[RateLimit]) -> list[RateLimit]:
        keys = [limit.key for limit in limits]
        duplicates = sorted({k for k in keys if keys.count(k) > 1})
        if duplicates:
            raise ValueError(f"more than one rate limit for key {', '.join(duplicates)}")
        return limits

    @model_validator(mode="after")
    def _consumers_unique(self) -> "ServingEndpoint":
        if len(set(self.consumers)) != len(self.consumers):
            raise ValueError("consumers lists a principal twice")
        return self

    @property
    def table_prefix(self) -> str:
        return self.inference_table.table_prefix or self.name.lower().replace("-", "_")

    @property
    def payload_table(self) -> str:
        """The inference table AI Gateway writes: `<prefix>_payload` (in the monitoring schema)."""
        return f"{self.table_prefix}_payload"
