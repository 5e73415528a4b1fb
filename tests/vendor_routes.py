"""Which vendor definition each REST path of the fakes answers with: the API's path table, kept apart from the
fakes' own routing so that a route a fake (or a test's subclass of it) adds without a vendor model fails loudly.

Each entry is (method, path pattern, Vendor), or ("*", prefix pattern, a function building a sub-table); the first
match wins. `no_model(...)` entries are the paths for
which no vendor definition exists here, each with the reason.
"""

from __future__ import annotations

import functools
import re

from tests.vendor_shapes import Problems, Vendor, authorization, empty, hybrid, no_model, proto, sdk

Table = list[tuple[str, re.Pattern, Vendor]]

_NAME = r"[^/]+\.[^/]+\.[^/]+"
_UC, _REG = "/api/2.1/unity-catalog/models", "/api/2.0/mlflow/unity-catalog"


def _download_headers(payload, query, headers) -> Problems:
    """GET /api/2.0/fs/files: the body is the file; the SDK builds files.DownloadResponse from three headers."""
    from databricks.sdk.service.files import DownloadResponse

    wanted = {k: headers[k] for k in ("content-length", "content-type", "last-modified") if k in headers}
    parsed = DownloadResponse.from_dict(wanted)
    problems = [f"DownloadResponse: header {k} missing" for k in ("content-length", "content-type", "last-modified")
                if k not in wanted]
    if not isinstance(payload, bytes) or parsed.content_length != len(payload):
        problems.append(f"DownloadResponse: content-length {parsed.content_length} for a body of {len(payload or b'')} bytes")
    return problems


def _download_url(payload, query, headers) -> Problems:
    """POST /api/2.0/fs/create-download-url: databricks.sdk.mixins.files_utils.CreateDownloadUrlResponse (hand-written
    in the SDK: `url`, and `headers` as a list of {name, value})."""
    from databricks.sdk.mixins.files_utils import CreateDownloadUrlResponse

    if not isinstance(payload, dict) or set(payload) - {"url", "headers"}:
        return [f"CreateDownloadUrlResponse: unknown field(s) in {payload!r}"]
    pairs = payload.get("headers", [])
    if not all(isinstance(h, dict) and set(h) == {"name", "value"} and all(isinstance(v, str) for v in h.values())
               for h in pairs):
        return [f"CreateDownloadUrlResponse.headers: expected [{{name, value}}], got {pairs!r}"]
    try:
        CreateDownloadUrlResponse.from_dict(payload)
    except (ValueError, KeyError, TypeError) as e:
        return [f"CreateDownloadUrlResponse: {e}"]
    return []


RFC8414 = {"issuer", "authorization_endpoint", "token_endpoint", "jwks_uri", "registration_endpoint", "scopes_supported",
           "response_types_supported", "response_modes_supported", "grant_types_supported", "code_challenge_methods_supported",
           "token_endpoint_auth_methods_supported", "revocation_endpoint", "introspection_endpoint",
           "claims_supported", "subject_types_supported", "id_token_signing_alg_values_supported",
           "request_uri_parameter_supported", "userinfo_endpoint"}


def _oidc_metadata(payload, query, headers) -> Problems:
    """databricks.sdk.oauth.OidcEndpoints (the two endpoints the SDK reads); the rest must be RFC 8414 metadata."""
    from databricks.sdk.oauth import OidcEndpoints

    if not isinstance(payload, dict):
        return [f"OidcEndpoints: expected an object, got {payload!r}"]
    parsed = OidcEndpoints.from_dict(payload)
    problems = [f"OidcEndpoints.{k}: required but missing" for k, v in vars(parsed).items() if not isinstance(v, str) or not v]
    return problems + [f"OAuth metadata: {k} is neither read by the SDK nor an RFC 8414 field" for k in set(payload) - RFC8414]


@functools.cache
def uc_registry_table() -> Table:
    """The UC model registry API, from MLflow's own service definition: each RPC's HTTP method and path (its
    `databricks.rpc` option), its response message for the answer and its request message for what was sent."""
    from mlflow.protos import databricks_pb2, databricks_uc_registry_messages_pb2 as messages
    from mlflow.protos import databricks_uc_registry_service_pb2 as service

    table = []
    for rpc in service.DESCRIPTOR.services_by_name["UcModelRegistryService"].methods:
        for endpoint in rpc.GetOptions().Extensions[databricks_pb2.rpc].endpoints:
            vendor = proto(getattr(messages, rpc.output_type.name), getattr(messages, rpc.input_type.name))
            table.append((endpoint.method, re.compile(re.escape(f"/api/2.0{endpoint.path}")), vendor))
    return table


@functools.cache
def databricks_table() -> Table:
    from databricks.sdk.oauth import HostMetadata
    from databricks.sdk.service import catalog, files, ml, serving, sql

    def r(method, pattern, vendor):
        return method, re.compile(pattern), vendor

    return [
        r("GET", r"/\.well-known/databricks-config", sdk(HostMetadata)),
        r("GET", f"{_UC}/{_NAME}/versions", sdk(catalog.ListModelVersionsResponse)),
        r("GET", f"{_UC}/{_NAME}", sdk(catalog.RegisteredModelInfo)),
        r("POST", _UC, sdk(catalog.RegisteredModelInfo)),
        r("PUT", f"{_UC}/{_NAME}/aliases/[^/]+", sdk(catalog.RegisteredModelAlias)),
        r("DELETE", f"{_UC}/{_NAME}/aliases/[^/]+", empty("RegisteredModelsAPI.delete_alias discards it")),
        r("DELETE", f"{_UC}/{_NAME}/versions/[0-9]+", empty("ModelVersionsAPI.delete discards it")),
        ("*", re.compile(f"{_REG}/.*"), uc_registry_table),   # built on first use: importing MLflow costs seconds
        r("GET", "/api/2.0/fs/directories/.*", sdk(files.ListDirectoryResponse)),
        r("GET", "/api/2.0/fs/files/.*", Vendor("databricks.sdk.service.files.DownloadResponse (from headers)",
                                                _download_headers)),
        r("PUT", "/api/2.0/fs/files/.*", empty("FilesAPI.upload: 204 No Content")),
        r("POST", "/api/2.0/fs/create-download-url", Vendor(
            "databricks.sdk.mixins.files_utils.CreateDownloadUrlResponse", _download_url)),
        r("GET", "/_storage/.*", no_model("a presigned cloud-storage URL (Azure Blob Storage's data plane): the body is "
                                          "the file's bytes; azure-storage-blob is not installed and the SDK reads only "
                                          "the status and three headers", other_service=True)),
        r("GET", "/api/2.0/mlflow/runs/get", sdk(ml.GetRunResponse)),
        r("GET", "/api/2.0/serving-endpoints/[^/]+", sdk(serving.ServingEndpointDetailed)),
        r("PUT", "/api/2.0/serving-endpoints/[^/]+/config", sdk(serving.ServingEndpointDetailed)),
        r("POST", "/serving-endpoints/[^/]+/invocations", sdk(serving.QueryEndpointResponse)),
        r("GET", "/api/2.0/sql/warehouses/?", sdk(sql.ListWarehousesResponse)),
        r("POST", "/api/2.0/sql/statements/?", sdk(sql.StatementResponse)),
    ]


@functools.cache
def arm_table() -> Table:
    from azure.mgmt.resource.resources.models import GenericResource, Provider, ResourceGroup

    def r(pattern, vendor):
        return "GET", re.compile(pattern, re.IGNORECASE), vendor

    subscriptions = ("azure-mgmt-resource 26 moved the subscriptions operations and models to "
                     "azure-mgmt-resource-subscriptions, which lakegate does not install")
    return [
        r(r"(/.*)?/providers/Microsoft\.Authorization/roleAssignments", authorization("RoleAssignmentListResult")),
        r(r"(/.*)?/providers/Microsoft\.Authorization/roleDefinitions/[^/]+", authorization("RoleDefinition")),
        r(r"/subscriptions/[^/]+", no_model(subscriptions)),
        r(r"/subscriptions/[^/]+/locations", no_model(subscriptions)),
        r(r"/subscriptions/[^/]+/providers/[^/]+", hybrid(Provider)),
        r(r"/subscriptions/[^/]+/resourcegroups/[^/]+", hybrid(ResourceGroup)),
        r(r"/subscriptions/.+", hybrid(GenericResource)),
    ]


@functools.cache
def entra_table() -> Table:
    return [("POST", re.compile(r"/[^/]+/oauth2/v2\.0/token"), no_model(
        "Entra ID's OAuth 2.0 token endpoint (RFC 6749 5.1 / 5.2): MSAL and azure-identity parse the JSON by hand "
        "and ship no model of it"))]


@functools.cache
def accounts_table() -> Table:
    return [("GET", re.compile(r"/oidc/accounts/[^/]+/\.well-known/oauth-authorization-server"),
             Vendor("databricks.sdk.oauth.OidcEndpoints (+ RFC 8414 metadata)", _oidc_metadata))]


def lookup(table: Table, method: str, path: str) -> tuple[str, Vendor] | None:
    """(pattern, vendor) of the first entry answering `method path`; an entry may be a sub-table's factory."""
    for m, pattern, vendor in table:
        if m in (method, "*") and pattern.fullmatch(path):
            return lookup(vendor(), method, path) if callable(vendor) else (pattern.pattern, vendor)
    return None
