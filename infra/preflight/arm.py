"""The Azure Resource Manager reads `doctor` makes, and nothing else: thin, read-only, one method per call.

Every method answers a `Reply` (HTTP status, the REST-shaped JSON body or ARM's error code and message),
so the checks decide what a 403 or a 404 means; the only exception raised is `Unreachable` (no
connection, TLS refused, timed out), which ends the whole run (exit 9). Replies are memoized per run, so
checks may ask for the same resource freely.

azure-mgmt-resource 26 holds the resource groups, providers and generic by-id operations; the
subscriptions operations moved to azure-mgmt-resource-subscriptions, which lakegate does not install, so
`subscription` and `locations` go through the same client's pipeline (`send_request`: same credential,
retries and errors). Role assignments and definitions come from azure-mgmt-authorization 4.0.0.

Nothing here writes: the SDK's automatic resource-provider registration is switched off (`_read_only`).

Endpoints: `LAKEGATE_ARM_ENDPOINT` (default https://management.azure.com) for sovereign clouds and
tests; the token scope is `LAKEGATE_ARM_SCOPE`, by default the endpoint's (`<endpoint>/.default`, with
the US Government cloud's own audience).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

ARM_ENDPOINT_VARIABLE = "LAKEGATE_ARM_ENDPOINT"
ARM_SCOPE_VARIABLE = "LAKEGATE_ARM_SCOPE"
DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
_KNOWN_SCOPES = {   # azure-mgmt-core's get_arm_endpoints, keyed by endpoint
    "https://management.azure.com": "https://management.azure.com/.default",
    "https://management.usgovcloudapi.net": "https://management.core.usgovcloudapi.net/.default",
    "https://management.chinacloudapi.cn": "https://management.chinacloudapi.cn/.default",
}
SUBSCRIPTIONS_API = "2022-12-01"
STORAGE_API = "2023-05-01"
# A refused connection costs ~3 s of retries, not azure-core's default minutes; throttling is still retried.
CLIENT_OPTIONS = {"retry_total": 3, "retry_backoff_factor": 0.5, "connection_timeout": 15, "read_timeout": 60}


class Unreachable(Exception):
    """ARM or Entra ID cannot be reached at all (connection, TLS, timeout)."""

    def __init__(self, service: str, url: str, reason: str):
        self.service, self.url, self.reason = service, url, reason
        super().__init__(f"{service} cannot be reached at {url}: {reason}")


@dataclass(frozen=True)
class ArmSettings:
    endpoint: str
    scope: str

    @classmethod
    def from_environment(cls) -> "ArmSettings":
        endpoint = (os.environ.get(ARM_ENDPOINT_VARIABLE) or DEFAULT_ARM_ENDPOINT).rstrip("/")
        scope = os.environ.get(ARM_SCOPE_VARIABLE) or _KNOWN_SCOPES.get(endpoint, f"{endpoint}/.default")
        return cls(endpoint, scope)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any = None              # REST-shaped JSON (camelCase keys), a list for list operations
    code: str | None = None       # ARM's error code, e.g. ResourceGroupNotFound
    message: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200

    def error(self) -> str:
        """`HTTP 404 ResourceGroupNotFound: Resource group 'x' could not be found.`"""
        text = f"HTTP {self.status}" + (f" {self.code}" if self.code else "")
        return text + (f": {self.message}" if self.message else "")


def first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


def reason_of(error: Exception) -> str:
    """A one-line reason for a transport error (azure-core's messages carry the urllib3 chain)."""
    return first_line(getattr(error, "message", None) or str(error)) or type(error).__name__


class Arm:
    """Read-only ARM calls as `credential`; subscription_id is only what the SDK clients require."""

    def __init__(self, credential, settings: ArmSettings, subscription_id: str):
        from azure.mgmt.authorization import AuthorizationManagementClient

        self.settings = settings
        self._credential, self._subscription_id = credential, subscription_id
        self._options = dict(base_url=settings.endpoint, credential_scopes=[settings.scope], **CLIENT_OPTIONS)
        self._clients: dict[str, object] = {}    # subscription id -> ResourceManagementClient
        self._authorization = _read_only(AuthorizationManagementClient(credential, subscription_id, **self._options))
        self._memo: dict[tuple, Reply] = {}

    def _resources(self, subscription_id: str | None = None):
        """ResourceManagementClient binds its operations to one subscription: one client per subscription."""
        from azure.mgmt.resource.resources import ResourceManagementClient

        sub = subscription_id or self._subscription_id
        if sub not in self._clients:
            self._clients[sub] = _read_only(ResourceManagementClient(self._credential, sub, **self._options))
        return self._clients[sub]

    # -- calls --------------------------------------------------------------------------------------

    def subscription(self, subscription_id: str) -> Reply:
        return self._memoized(("subscription", subscription_id), lambda: self._raw_get(
            f"/subscriptions/{subscription_id}", SUBSCRIPTIONS_API))

    def locations(self, subscription_id: str) -> Reply:
        """body: the `value` list of GET /subscriptions/{id}/locations."""
        def call():
            reply = self._raw_get(f"/subscriptions/{subscription_id}/locations", SUBSCRIPTIONS_API)
            return Reply(reply.status, (reply.body or {}).get("value", [])) if reply.ok else reply
        return self._memoized(("locations", subscription_id), call)

    def provider(self, subscription_id: str, namespace: str) -> Reply:
        return self._memoized(("provider", subscription_id, namespace.lower()), lambda: Reply(200, _rest(
            self._resources(subscription_id).providers.get(namespace))))

    def resource_group(self, subscription_id: str, name: str) -> Reply:
        return self._memoized(("resource_group", subscription_id, name.lower()), lambda: Reply(200, _rest(
            self._resources(subscription_id).resource_groups.get(name))))

    def resource(self, resource_id: str, api_version: str) -> Reply:
        return self._memoized(("resource", resource_id.lower(), api_version), lambda: Reply(200, _rest(
            self._resources().resources.get_by_id(resource_id, api_version=api_version))))

    def role_assignments(self, scope: str, object_id: str) -> Reply:
        """body: the assignments of `object_id` at, above and below `scope` (ARM's assignedTo filter)."""
        return self._memoized(("role_assignments", scope.lower(), object_id), lambda: Reply(200, [
            _rest(a) for a in self._authorization.role_assignments.list_for_scope(
                scope, filter=f"assignedTo('{object_id}')")]))

    def role_definition(self, role_definition_id: str) -> Reply:
        return self._memoized(("role_definition", role_definition_id.lower()), lambda: Reply(200, _rest(
            self._authorization.role_definitions.get_by_id(role_definition_id))))

    # -- plumbing -----------------------------------------------------------------------------------

    def _raw_get(self, path: str, api_version: str) -> Reply:
        from azure.core.rest import HttpRequest

        response = self._resources().send_request(HttpRequest("GET", path, params={"api-version": api_version}))
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code == 200:
            return Reply(200, body)
        error = body.get("error") if isinstance(body, dict) else None
        error = error if isinstance(error, dict) else {}
        return Reply(response.status_code, None, error.get("code"), error.get("message"))

    def _memoized(self, key: tuple, call) -> Reply:
        if key not in self._memo:
            self._memo[key] = self._guarded(call)
        return self._memo[key]

    def _guarded(self, call) -> Reply:
        from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

        try:
            return call()
        except (ServiceRequestError, ServiceResponseError) as error:
            raise Unreachable("Azure Resource Manager", self.settings.endpoint, reason_of(error)) from None
        except HttpResponseError as error:
            if error.response is None:   # not an HTTP answer of ARM's
                raise
            arm_error = getattr(error, "error", None)
            return Reply(error.status_code or 0, None, getattr(arm_error, "code", None),
                         first_line(getattr(arm_error, "message", None) or error.reason or ""))


def _read_only(client):
    """Doctor only reads. azure-mgmt-core's clients register a resource provider by themselves (a POST) when ARM
    answers 409 MissingSubscriptionRegistration; here that answer is returned as it is, for the checks to report."""
    from azure.mgmt.core.policies import ARMAutoResourceProviderRegistrationPolicy

    pipeline = getattr(getattr(client, "_client", None), "_pipeline", None)
    for policy in getattr(pipeline, "_impl_policies", []):
        if isinstance(policy, ARMAutoResourceProviderRegistrationPolicy):
            policy._register_rp = lambda *args, **kwargs: False
    return client


def _rest(model) -> dict:
    """The REST (camelCase) shape of an SDK model: hybrid models (azure-mgmt-resource 26) or msrest ones."""
    if hasattr(model, "serialize"):          # msrest (azure-mgmt-authorization 4.0.0)
        return model.serialize(keep_readonly=True)
    return model.as_dict()
