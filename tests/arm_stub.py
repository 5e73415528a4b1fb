"""Test-only HTTPS stubs of what `python main.py doctor` talks to: Azure Resource Manager, Entra ID's token
endpoint and the Databricks accounts console's OIDC metadata.

Each is a `StubServer` (tests/databricks_stub.py) on 127.0.0.1 and a free port, behind a throwaway
self-signed certificate (azure-identity and azure-core refuse plain http for tokens; point
REQUESTS_CA_BUNDLE / SSL_CERT_FILE at the certificate). They answer the REST paths and JSON shapes the
azure-mgmt-resource 26 and azure-mgmt-authorization 4.0.0 clients call, from in-memory state a test edits:

* `EntraStub`: POST /<tenant>/oauth2/v2.0/token (client-assertion grant, i.e. a federated token), answering
  a JWT-shaped access token whose payload carries `oid`, `appid`, `tid`, `idtyp` (signature not real);
* `ArmStub`: subscriptions get and locations, providers get, resource groups get, any resource by id
  (storage accounts, blob containers), role assignments for a scope with `$filter=assignedTo('<oid>')`
  (at, above and below the scope, as ARM answers) and role definitions by id; every call needs a bearer
  token the Entra stub issued;
* `AccountsStub`: GET /oidc/accounts/<id>/.well-known/oauth-authorization-server.

Every request is recorded (method, path, query, body, principal), never the Authorization header.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import re
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from tests.stub_server import StubError, StubServer
from tests.vendor_routes import accounts_table, arm_table, entra_table
from tests.vendor_shapes import arm_error_problems, databricks_error_problems

I = re.IGNORECASE

BUILT_IN_ROLES = {
    "b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
    "acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
    "f58310d9-a9f6-439a-9e8d-f62e7b41a168": "Role Based Access Control Administrator",
    "ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
    "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1": "Storage Blob Data Reader",
    "17d1049b-9a84-46fb-8f53-869881c3d3ab": "Storage Account Contributor",
}
ROLE_IDS = {name: guid for guid, name in BUILT_IN_ROLES.items()}


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (it is its own CA; point REQUESTS_CA_BUNDLE at it)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "stub-cert.pem", directory / "stub-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _arm_error(status: int, code: str, message: str) -> StubError:
    return StubError(status, code, message, {"error": {"code": code, "message": message}})


def _bearer(handler) -> str:
    header = handler.headers.get("Authorization", "")
    return header.split(" ", 1)[1] if header.lower().startswith("bearer ") else ""


# ------------------------------------------------------------------------------------------------
# Entra ID


@dataclass
class App:
    client_id: str
    object_id: str            # the service principal's object id: the `oid` claim, what RBAC assigns to
    federated_token: str      # the assertion Entra accepts for it (AKS / federated token file)


class EntraStub(StubServer):
    """POST /<tenant>/oauth2/v2.0/token: a client-assertion grant for a registered app -> a JWT-shaped token."""

    def __init__(self, tls: tuple[Path, Path]):
        super().__init__(tls)
        self.apps: dict[str, App] = {}
        self.issued: dict[str, str] = {}      # access token -> oid
        self.routes = [("POST", re.compile(r"/(?P<tenant>[^/]+)/oauth2/v2\.0/token"), self._token)]
        self.vendor_routes = entra_table()    # no vendor model of OAuth answers: counted, listed, not checked

    def register(self, client_id: str, object_id: str) -> App:
        app = App(client_id, object_id, f"eyJhbGciOiJSUzI1NiJ9.federated-{client_id}-SECRET.sig")
        self.apps[client_id] = app
        return app

    def oid_of(self, token: str) -> str | None:
        with self.lock:
            return self.issued.get(token)

    def _token(self, tenant, raw, **_):
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        assertion = form.pop("client_assertion", None)
        app = self.apps.get(form.get("client_id", ""))
        recorded = {**form, "tenant": tenant}
        if app is None:
            raise StubError(400, "unauthorized_client", "AADSTS700016", {
                "error": "unauthorized_client", "error_codes": [700016],
                "error_description": "AADSTS700016: Application not found in the directory."})
        if assertion != app.federated_token:
            raise StubError(401, "invalid_client", "AADSTS700211", {
                "error": "invalid_client", "error_codes": [700211],
                "error_description": "AADSTS700211: No matching federated identity record found."})
        now = int(time.time())
        claims = {"aud": form.get("scope", "").removesuffix("/.default"), "iss": f"https://sts.windows.net/{tenant}/",
                  "iat": now, "nbf": now, "exp": now + 3600, "appid": app.client_id, "idtyp": "app",
                  "oid": app.object_id, "sub": app.object_id, "tid": tenant, "ver": "1.0"}
        token = f"{_b64({'typ': 'JWT', 'alg': 'RS256', 'kid': 'stub'})}.{_b64(claims)}.c3R1Yi1TRUNSRVQ"
        with self.lock:
            self.issued[token] = app.object_id
        return recorded, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}


# ------------------------------------------------------------------------------------------------
# Azure Resource Manager


@dataclass
class Assignment:
    principal_id: str
    role: str                 # built-in role name (its id comes from BUILT_IN_ROLES)
    scope: str
    condition: str | None = None
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def as_arm(self) -> dict:
        sub = self.scope.split("/")[2] if self.scope.startswith("/subscriptions/") else None
        definition = f"/providers/Microsoft.Authorization/roleDefinitions/{ROLE_IDS[self.role]}"
        properties = {"roleDefinitionId": (f"/subscriptions/{sub}" if sub else "") + definition,
                      "principalId": self.principal_id, "principalType": "ServicePrincipal", "scope": self.scope,
                      "createdOn": "2026-01-05T10:00:00.0000000Z", "updatedOn": "2026-01-05T10:00:00.0000000Z"}
        if self.condition:
            properties |= {"condition": self.condition, "conditionVersion": "2.0"}
        return {"id": f"{self.scope.rstrip('/')}/providers/Microsoft.Authorization/roleAssignments/{self.id}",
                "name": self.id, "type": "Microsoft.Authorization/roleAssignments", "properties": properties}


_DISPLAY = {"westeurope": "West Europe", "northeurope": "North Europe", "swedencentral": "Sweden Central"}


def _covers(outer: str, inner: str) -> bool:
    outer, inner = outer.rstrip("/").lower(), inner.rstrip("/").lower()
    return outer == inner or inner.startswith(outer + "/") or outer == ""


class ArmStub(StubServer):
    """The management-plane reads `doctor` makes, authenticated by tokens of `entra`; every answer is checked
    against azure-mgmt-resource's / azure-mgmt-authorization's models of it (tests/vendor_routes.py)."""

    vendor_error = staticmethod(arm_error_problems)

    def __init__(self, tls: tuple[Path, Path], entra: EntraStub):
        super().__init__(tls)
        self.entra = entra
        self.subscriptions: dict[str, dict] = {}       # id -> {tenantId, state, displayName}
        self.locations: dict[str, list[str]] = {}      # subscription -> location names
        self.providers: dict[tuple[str, str], str] = {}  # (subscription, namespace lowercased) -> registrationState
        self.resource_groups: dict[tuple[str, str], str] = {}  # (subscription, name lowercased) -> location
        self.resources: dict[str, dict] = {}            # lowercased id -> ARM body
        self.assignments: list[Assignment] = []
        self.forbidden: set[str] = set()                # lowercased resource ids answering 403 (no read role)
        self.unregistered: set[str] = set()             # lowercased resource ids answering 409 (provider unregistered)
        self.routes = [
            ("GET", re.compile(r"(?P<scope>/.*)?/providers/Microsoft\.Authorization/roleAssignments", I),
             self._role_assignments),
            ("GET", re.compile(r"(?P<scope>/.*)?/providers/Microsoft\.Authorization/roleDefinitions/(?P<guid>[^/]+)", I),
             self._role_definition),
            ("GET", re.compile(r"/subscriptions/(?P<sub>[^/]+)", I), self._subscription),
            ("GET", re.compile(r"/subscriptions/(?P<sub>[^/]+)/locations", I), self._locations),
            ("GET", re.compile(r"/subscriptions/(?P<sub>[^/]+)/providers/(?P<namespace>[^/]+)", I), self._provider),
            ("GET", re.compile(r"/subscriptions/(?P<sub>[^/]+)/resourcegroups/(?P<name>[^/]+)", I), self._resource_group),
            ("GET", re.compile(r"(?P<resource_id>/subscriptions/.+)", I), self._resource),
        ]
        self.vendor_routes = arm_table()

    def no_route(self, method: str, path: str):
        return {"error": {"code": "InvalidResourceType", "message": f"The resource type could not be found: {path}."}}

    # -- state a test edits ----------------------------------------------------------------------

    def add_subscription(self, subscription_id: str, tenant_id: str, locations=("westeurope", "northeurope"),
                         registered=("Microsoft.Databricks", "Microsoft.Storage", "Microsoft.Network",
                                     "Microsoft.ManagedIdentity", "Microsoft.OperationalInsights")):
        self.subscriptions[subscription_id] = {"tenantId": tenant_id, "state": "Enabled",
                                               "displayName": f"sub-{subscription_id[:4]}"}
        self.locations[subscription_id] = list(locations)
        for namespace in registered:
            self.providers[(subscription_id, namespace.lower())] = "Registered"

    def add_storage_account(self, subscription_id: str, resource_group: str, name: str, location: str = "westeurope",
                            allow_shared_key_access: bool | None = False) -> str:
        rid = (f"/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Storage"
               f"/storageAccounts/{name}")
        properties = {"provisioningState": "Succeeded", "minimumTlsVersion": "TLS1_2",
                      "allowBlobPublicAccess": False, "isHnsEnabled": False}
        if allow_shared_key_access is not None:
            properties["allowSharedKeyAccess"] = allow_shared_key_access
        self.resources[rid.lower()] = {"id": rid, "name": name, "type": "Microsoft.Storage/storageAccounts",
                                       "location": location, "kind": "StorageV2", "sku": {"name": "Standard_ZRS"},
                                       "properties": properties}
        return rid

    def add_container(self, account_id: str, name: str) -> str:
        rid = f"{account_id}/blobServices/default/containers/{name}"
        self.resources[rid.lower()] = {"id": rid, "name": name,
                                       "type": "Microsoft.Storage/storageAccounts/blobServices/containers",
                                       "properties": {"publicAccess": "None", "leaseState": "Available"}}
        return rid

    def assign(self, principal_id: str, role: str, scope: str, condition: str | None = None) -> Assignment:
        assignment = Assignment(principal_id, role, scope, condition)
        self.assignments.append(assignment)
        return assignment

    def principal_of(self, handler) -> str | None:
        return self.entra.oid_of(_bearer(handler))

    # -- handlers ---------------------------------------------------------------------------------

    def _caller(self, principal):
        if principal is None:
            raise _arm_error(401, "InvalidAuthenticationToken", "The access token is invalid.")
        return principal

    def _subscription_of(self, sub):
        found = self.subscriptions.get(sub)
        if found is None:
            raise _arm_error(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        return found

    def _subscription(self, sub, principal, query, **_):
        self._caller(principal)
        found = self._subscription_of(sub)
        return None, {"id": f"/subscriptions/{sub}", "subscriptionId": sub, "tenantId": found["tenantId"],
                      "displayName": found["displayName"], "state": found["state"],
                      "subscriptionPolicies": {"locationPlacementId": "Public_2014-09-01", "quotaId": "stub",
                                               "spendingLimit": "Off"}, "authorizationSource": "RoleBased"}

    def _locations(self, sub, principal, **_):
        self._caller(principal)
        self._subscription_of(sub)
        return None, {"value": [{"id": f"/subscriptions/{sub}/locations/{name}", "name": name, "type": "Region",
                                 "displayName": _DISPLAY.get(name, name), "regionalDisplayName": _DISPLAY.get(name, name),
                                 "metadata": {"regionType": "Physical", "regionCategory": "Recommended"}}
                                for name in self.locations.get(sub, [])]}

    def _provider(self, sub, namespace, principal, **_):
        self._caller(principal)
        self._subscription_of(sub)
        state = self.providers.get((sub, namespace.lower()), "NotRegistered")
        return None, {"id": f"/subscriptions/{sub}/providers/{namespace}", "namespace": namespace,
                      "registrationState": state, "registrationPolicy": "RegistrationRequired",
                      "resourceTypes": [{"resourceType": "workspaces", "locations": ["West Europe", "North Europe"],
                                         "apiVersions": ["2024-05-01"]}]}

    def _resource_group(self, sub, name, principal, **_):
        self._caller(principal)
        self._subscription_of(sub)
        location = self.resource_groups.get((sub, name.lower()))
        if location is None:
            raise _arm_error(404, "ResourceGroupNotFound", f"Resource group '{name}' could not be found.")
        return None, {"id": f"/subscriptions/{sub}/resourceGroups/{name}", "name": name, "type":
                      "Microsoft.Resources/resourceGroups", "location": location,
                      "properties": {"provisioningState": "Succeeded"}}

    def _resource(self, resource_id, principal, query, **_):
        self._caller(principal)
        if "api-version" not in query:
            raise _arm_error(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        if resource_id.lower() in self.forbidden:
            raise _arm_error(403, "AuthorizationFailed", f"The client '{principal}' with object id '{principal}' does "
                             f"not have authorization to perform action 'read' over scope '{resource_id}' or the scope "
                             "is invalid. If access was recently granted, please refresh your credentials.")
        if resource_id.lower() in self.unregistered:
            raise _arm_error(409, "MissingSubscriptionRegistration", "The subscription is not registered to use "
                             "namespace 'Microsoft.Storage'. See https://aka.ms/rps-not-found for how to register "
                             "subscriptions.")
        found = self.resources.get(resource_id.lower())
        if found is None:
            code = "ContainerNotFound" if "/containers/" in resource_id.lower() else "ResourceNotFound"
            raise _arm_error(404, code, f"The Resource '{resource_id}' was not found.")
        return None, found

    def _role_assignments(self, principal, query, scope=None, **_):
        self._caller(principal)
        scope = scope or "/"
        match = re.fullmatch(r"assignedTo\('(?P<oid>[^']+)'\)", query.get("$filter", ""))
        if match is None:
            raise _arm_error(400, "UnsupportedQuery", f"stub: expected $filter=assignedTo('<oid>'), got {query!r}")
        value = [a.as_arm() for a in self.assignments if a.principal_id == match["oid"]
                 and (_covers(a.scope, scope) or _covers(scope, a.scope))]
        return None, {"value": value}

    def _role_definition(self, guid, principal, scope=None, **_):
        self._caller(principal)
        name = BUILT_IN_ROLES.get(guid.lower())
        if name is None:
            raise _arm_error(404, "RoleDefinitionDoesNotExist", "The specified role definition does not exist.")
        return None, {"id": f"{scope or ''}/providers/Microsoft.Authorization/roleDefinitions/{guid}", "name": guid,
                      "type": "Microsoft.Authorization/roleDefinitions",
                      "properties": {"roleName": name, "type": "BuiltInRole", "description": name,
                                     "assignableScopes": ["/"], "permissions": []}}


# ------------------------------------------------------------------------------------------------
# Databricks accounts console


class AccountsStub(StubServer):
    """GET /oidc/accounts/<id>/.well-known/oauth-authorization-server for the known account ids."""

    vendor_error = staticmethod(databricks_error_problems)

    def __init__(self, tls: tuple[Path, Path]):
        super().__init__(tls)
        self.accounts: set[str] = set()
        self.routes = [("GET", re.compile(r"/oidc/accounts/(?P<account>[^/]+)/\.well-known/oauth-authorization-server"),
                        self._metadata)]
        self.vendor_routes = accounts_table()

    def _metadata(self, account, **_):
        if account not in self.accounts:
            raise StubError(404, "NOT_FOUND", "account not found")
        base = f"{self.url}/oidc/accounts/{account}"
        return None, {"issuer": f"{base}/v1", "authorization_endpoint": f"{base}/v1/authorize",
                      "token_endpoint": f"{base}/v1/token", "jwks_uri": f"{base}/v1/keys",
                      "response_types_supported": ["code"], "grant_types_supported": ["client_credentials"]}
