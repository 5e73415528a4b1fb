"""infra/access.py: every grant, binding and model owner, declared or derived, with where it comes from."""

from __future__ import annotations

import pytest

from lakegate.infra import access
from lakegate.infra.model.grants import WRITE_PRIVILEGES

from .helpers import EXAMPLES, line_of, variant

READ_ONLY = {"USE_CATALOG", "USE_SCHEMA", "EXECUTE", "SELECT", "BROWSE", "READ_VOLUME"}


def located(origin: str, file: str, pattern: str) -> bool:
    """The origin names `file` at the line matching `pattern` (paths may be absolute or relative)."""
    return f"{file}:{line_of(EXAMPLES / file, pattern)}" in origin


def by_key(grants) -> dict[tuple[str, str, str], access.EffectiveGrant]:
    return {(g.principal, g.securable.type, g.securable.name): g for g in grants}


@pytest.mark.parametrize("source,target", [("dev", "staging"), ("staging", "prod")])
def test_promotion_target_reads_its_source_models(envs, source, target):
    grants = by_key(access.derive_promotion_grants(envs[target], envs))
    sp = envs[target].service_principal
    catalog = grants[(sp, "catalog", source)]
    schema = grants[(sp, "schema", f"{source}.ml")]
    assert catalog.privileges == ("USE_CATALOG",) and set(schema.privileges) == {"USE_SCHEMA", "EXECUTE"}
    # Emitted by the source's stack (databricks_grants is authoritative per securable) ...
    assert catalog.owner_env == schema.owner_env == source
    # ... and traced to the target's `promotion.from` line.
    for grant in (catalog, schema):
        assert grant.derived and f"promotion {source} -> {target}" in grant.origin
        assert located(grant.origin, f"{target}.yaml", r"^  from: ")


def test_the_first_environment_reads_nothing(envs):
    assert access.derive_promotion_grants(envs["dev"], envs) == []


@pytest.mark.parametrize("name", ["dev", "staging", "prod"])
def test_each_service_principal_registers_models_in_its_own_catalog(envs, name):
    env = envs[name]
    grants = by_key(access.derive_own_model_grants(env))
    assert grants[(env.service_principal, "catalog", name)].privileges == ("USE_CATALOG",)
    assert set(grants[(env.service_principal, "schema", f"{name}.ml")].privileges) == {"USE_SCHEMA", "CREATE_MODEL"}
    assert access.model_owner(env) == env.service_principal


def test_no_service_principal_can_write_another_environments_catalog(envs):
    owner_of_sp = {e.service_principal: e.name for e in envs}
    foreign = [g for g in access.effective_grants(envs)
               if g.principal in owner_of_sp and g.owner_env != owner_of_sp[g.principal]]
    assert foreign, "the promotion path must give targets read access to their sources"
    assert all(set(g.privileges) <= READ_ONLY and not set(g.privileges) & WRITE_PRIVILEGES for g in foreign)


def test_declared_grants_point_at_their_yaml_line(envs):
    grants = by_key(access.declared_grants(envs["prod"], envs))
    grant = grants[("data-scientists", "schema", "prod.features")]
    assert not grant.derived and grant.owner_env == "prod"
    assert located(grant.origin, "prod.yaml", r"principal: data-scientists, on: schema prod.features")


def test_a_grant_on_another_catalog_is_emitted_by_that_catalogs_stack(envs):
    changed = variant(envs, "dev", grants=[
        *[g.model_dump() | {"on": str(g.on)} for g in envs["dev"].grants],
        {"principal": "data-scientists", "on": "schema prod.features", "privileges": ["SELECT"]},
    ])
    owned = by_key(access.grants_owned_by(changed["prod"], changed))
    assert ("data-scientists", "schema", "prod.features") in owned
    dev_owned = by_key(access.grants_owned_by(changed["dev"], changed))
    assert all(name.split(".")[0] == "dev" for _, _, name in dev_owned)


def test_grants_owned_by_each_stack(envs):
    dev = by_key(access.grants_owned_by(envs["dev"], envs))
    # staging's service principal reads dev's models: emitted by dev's stack.
    assert ("sp-lakegate-staging", "schema", "dev.ml") in dev
    assert not any(p == "sp-lakegate-prod" for p, _, _ in dev)
    prod = by_key(access.grants_owned_by(envs["prod"], envs))
    assert not any(p in ("sp-lakegate-dev", "sp-lakegate-staging") for p, _, _ in prod)


def test_merged_privileges_is_one_entry_per_securable(envs):
    merged = access.merged_privileges(access.grants_owned_by(envs["dev"], envs))
    schema = merged[("schema", "dev.ml")]
    assert schema["sp-lakegate-dev"] == {"USE_SCHEMA", "CREATE_MODEL"}
    assert schema["sp-lakegate-staging"] == {"USE_SCHEMA", "EXECUTE"}
    assert schema["data-scientists"] == {"USE_SCHEMA", "EXECUTE", "CREATE_MODEL"}


def test_catalog_bindings(envs):
    def bindings(name):
        return {b.workspace_env: b for b in access.catalog_bindings(envs[name], envs)}

    prod = bindings("prod")
    assert {k: b.mode for k, b in prod.items()} == {"prod": "read_write", "dev": "read_only"}
    assert located(prod["dev"].origin, "prod.yaml", r"^    dev: read_only")
    # A source catalog is bound read-only to its promotion target's workspace.
    dev, staging = bindings("dev"), bindings("staging")
    assert {k: b.mode for k, b in dev.items()} == {"dev": "read_write", "staging": "read_only"}
    assert {k: b.mode for k, b in staging.items()} == {"staging": "read_write", "prod": "read_only"}
    assert "promotion dev -> staging" in dev["staging"].origin and located(dev["staging"].origin, "staging.yaml", r"^  from: ")


def test_a_declared_binding_wins_over_the_derived_one(envs):
    changed = variant(envs, "dev", unity_catalog={"bindings": {"staging": "read_write"}})
    binding = {b.workspace_env: b for b in access.catalog_bindings(changed["dev"], changed)}["staging"]
    assert binding.mode == "read_write" and not binding.origin.startswith("derived")
