"""Where a CI job keeps an environment's audit log between runs: the environment's own state container.

The audit log is anchored in the registry (promotion/anchor.py): a runner that starts with an empty
`.lakegate/audit/` cannot promote into an environment whose anchor names entries it does not have, by
design. So a deploy job fetches the log before it promotes (`ci audit pull`) and stores it back after
(`ci audit push`, also when a promotion was refused: refusals are entries too). The log lives beside the
environment's Terraform state, `lakegate-audit/<env>.jsonl` and `.head` in `state.container` of
`state.storage_account`, the one container the environment's principal may write (Storage Blob Data
Contributor, infra/access.py): no new storage, no new role.

Writes are conditional (ETag): push replaces the blobs only if nobody changed them since this job's pull
(`If-Match`), or creates them only if they still do not exist (`If-None-Match: *`). The jobs of one
environment never overlap (their concurrency group / exclusive lock); if they did, the second push is
refused instead of losing the first one's entries. Requests carry an Entra token for Azure Storage from
the same credential chain as everything else (promotion/credentials/).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import requests

from lakegate.infra.model import Environment
from lakegate.promotion.errors import AuditTampered, InvalidRequest

STORAGE_SCOPE = "https://storage.azure.com/.default"
BLOB_ENDPOINT = "LAKEGATE_BLOB_ENDPOINT"          # e.g. for sovereign clouds; `{account}` is substituted
DEFAULT_ENDPOINT = "https://{account}.blob.core.windows.net"
PREFIX = "lakegate-audit"
API_VERSION = "2023-11-03"
_TIMEOUT_S = 60


class StorageUnreachable(ConnectionError):
    """Azure Storage cannot be reached (exit 9)."""


@dataclass(frozen=True)
class Transfer:
    env: str
    files: dict[str, str]       # file name -> "downloaded" | "absent" | "uploaded" | "unchanged" | "created"

    def as_dict(self) -> dict:
        return {"env": self.env, "files": self.files}


def _location(env: Environment) -> tuple[str, str]:
    state = env.state
    if state.backend != "azurerm" or not state.storage_account or not state.container:
        raise InvalidRequest(f"{env.name} keeps its Terraform state locally (state.backend: {state.backend}): there is "
                             "no container to keep its audit log in; CI does not promote into it")
    return state.storage_account, state.container


def _url(env: Environment, name: str) -> str:
    account, container = _location(env)
    base = (os.environ.get(BLOB_ENDPOINT) or DEFAULT_ENDPOINT).format(account=account).rstrip("/")
    return f"{base}/{quote(container)}/{PREFIX}/{quote(name)}"


def _names(env: Environment) -> tuple[str, str]:
    return f"{env.name}.jsonl", f"{env.name}.head"   # the log first, its head after (promotion/audit.py)


def _sidecar(audit_dir: Path, env: Environment) -> Path:
    return audit_dir / f".{env.name}.remote.json"


def _digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None


class BlobClient:
    def __init__(self, credential):
        self._credential = credential
        self._session = requests.Session()

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        from azure.core.exceptions import ClientAuthenticationError

        from lakegate.promotion.errors import CredentialsError

        try:
            token = self._credential.credential.get_token(STORAGE_SCOPE).token
        except ClientAuthenticationError as error:
            raise CredentialsError(self._credential.strategy, "could not get an Entra token for Azure Storage: "
                                   + str(error.message or error).splitlines()[0]) from None
        return {"Authorization": f"Bearer {token}", "x-ms-version": API_VERSION, **(extra or {})}

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, data: bytes | None = None):
        try:
            return self._session.request(method, url, headers=self._headers(headers), data=data, timeout=_TIMEOUT_S,
                                         allow_redirects=False)
        except requests.RequestException as error:
            raise StorageUnreachable(f"Azure Storage cannot be reached at {urlsplit(url).netloc} "
                                     f"({type(error).__name__})") from None


def _refused(response, what: str) -> Exception:
    from lakegate.promotion.errors import CredentialsError

    code = response.headers.get("x-ms-error-code", "")
    detail = f"HTTP {response.status_code}{' ' + code if code else ''}"
    if response.status_code in (401, 403):
        return CredentialsError("azure-storage", f"{what}: {detail} (the principal needs Storage Blob Data "
                                                 "Contributor on its state container)")
    return StorageUnreachable(f"{what}: Azure Storage answered {detail}")


def pull(env: Environment, audit_dir: Path, client: BlobClient) -> Transfer:
    """Fetch the environment's log and head into `audit_dir` (mode 0600), remembering their ETags."""
    audit_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    etags: dict[str, str | None] = {}
    files = {}
    for name in _names(env):
        local = audit_dir / name
        response = client.request("GET", _url(env, name))
        if response.status_code == 404:
            etags[name], files[name] = None, "absent"
            if local.exists():
                raise AuditTampered(f"{local} exists but the stored log of {env.name} does not: refusing to mix a "
                                    "local log into CI's (remove it, or push it from where it belongs)")
            continue
        if response.status_code != 200:
            raise _refused(response, f"reading {PREFIX}/{name}")
        if local.exists() and local.read_bytes() != response.content:
            raise AuditTampered(f"{local} differs from the stored log of {env.name}: refusing to overwrite it")
        descriptor = os.open(local, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(response.content)
        os.chmod(local, 0o600)
        etags[name], files[name] = response.headers.get("ETag"), "downloaded"
    digests = {name: _digest(audit_dir / name) for name in _names(env)}
    _sidecar(audit_dir, env).write_text(json.dumps({"etags": etags, "sha256": digests}, sort_keys=True))
    return Transfer(env.name, files)


def push(env: Environment, audit_dir: Path, client: BlobClient) -> Transfer:
    """Store the log and head back, only over what this job pulled."""
    sidecar = _sidecar(audit_dir, env)
    if not sidecar.exists() and not any((audit_dir / name).exists() for name in _names(env)):
        return Transfer(env.name, dict.fromkeys(_names(env), "absent"))   # nothing pulled, nothing written
    try:
        pulled = json.loads(sidecar.read_text())
        etags, digests = pulled["etags"], pulled["sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        raise InvalidRequest(f"no record of a pull of {env.name}'s audit log in {audit_dir}: run `ci audit pull` "
                             "first (a push must not replace a log it never read)") from None
    files = {}
    for name in _names(env):
        local = audit_dir / name
        if not local.is_file():
            files[name] = "absent"
            continue
        if _digest(local) == digests.get(name):
            files[name] = "unchanged"
            continue
        condition = {"If-Match": etags[name]} if etags.get(name) else {"If-None-Match": "*"}
        response = client.request("PUT", _url(env, name), {"x-ms-blob-type": "BlockBlob",
                                                          "Content-Type": "application/octet-stream", **condition},
                                  local.read_bytes())
        if response.status_code in (409, 412):
            raise AuditTampered(f"{env.name}'s stored audit log changed since this job read it ({PREFIX}/{name}): "
                                "another run promoted meanwhile; nothing was overwritten")
        if response.status_code not in (200, 201):
            raise _refused(response, f"writing {PREFIX}/{name}")
        files[name] = "created" if not etags.get(name) else "uploaded"
        etags[name], digests[name] = response.headers.get("ETag"), _digest(local)
    sidecar.write_text(json.dumps({"etags": etags, "sha256": digests}, sort_keys=True))
    return Transfer(env.name, files)
