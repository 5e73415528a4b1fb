"""Lists of names kept in one place: where a second list must exist (a Literal beside a table, a mapping to
Databricks spellings), a guard here fails when the two drift apart."""

from __future__ import annotations

from typing import get_args

from lakegate.infra import access
from lakegate.infra.constructs.databricks import identities, unity_catalog as uc_construct
from lakegate.infra.model import grants, tooling, workflows
from lakegate.infra.model.base import GitProvider
from lakegate.infra.model.unity_catalog import BindingMode, UnityCatalog


def test_securable_types_agree_with_the_privilege_table():
    assert list(get_args(grants.SecurableType)) == list(grants.PRIVILEGES_BY_SECURABLE) == list(grants._NAME_PARTS)


def test_the_privileges_access_derives_are_privileges_of_their_securable():
    assert set(access.READ_SOURCE_CATALOG) | set(access.WRITE_OWN_CATALOG) <= grants.PRIVILEGES_BY_SECURABLE["catalog"]
    assert set(access.READ_SOURCE_MODELS) | set(access.WRITE_OWN_MODELS) <= grants.PRIVILEGES_BY_SECURABLE["schema"]


def test_constructs_use_the_model_s_names():
    assert identities.ENTITLEMENTS is grants.ENTITLEMENTS
    assert get_args(grants.Group.model_fields["entitlements"].annotation) == (grants.Entitlement,)
    assert set(uc_construct.BINDING_TYPES) == set(get_args(BindingMode))
    assert get_args(UnityCatalog.model_fields["bindings"].annotation)[1] == BindingMode


def test_git_providers_are_one_list():
    assert tooling.GitFolder.model_fields["provider"].annotation is GitProvider
    assert workflows.CodeSource.model_fields["provider"].annotation is GitProvider
