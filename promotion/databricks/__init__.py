"""Databricks Unity Catalog behind the RegistryAdapter interface, plus the serving endpoint update."""

from lakegate.promotion.databricks.adapter import UnityCatalogAdapter
from lakegate.promotion.databricks.serving import ServingUpdate, update_serving_endpoint

__all__ = ["ServingUpdate", "UnityCatalogAdapter", "update_serving_endpoint"]
