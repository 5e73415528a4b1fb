"""Databricks constructs of the `<env>-databricks` stack: one resource family per module, typed props in,
attributes out.

Each module imports only the provider submodules it uses (a cold import of a submodule costs time).
Principals are always resolved through `directory.Directory`: service principals by application id,
groups by display name, `account users` literally, users by e-mail.
"""
