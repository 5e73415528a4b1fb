"""Stacks only wire constructs. Per environment: `<env>-azure` and `<env>-databricks`."""
