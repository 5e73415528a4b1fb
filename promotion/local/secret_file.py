"""Secrets of the local registry, kept in one mode-0600 JSON file under the state folder.

Holds the admin password, the Flask secret key and one generated password per provisioned user.
Nothing here ever prints or logs a secret; callers that need to show one print `***`.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

CREDENTIALS_FILE = "credentials.json"
ADMIN_USERNAME = "admin"
# MLflow refuses passwords under 12 characters; 32 url-safe characters carry ~190 bits.
_PASSWORD_BYTES = 24


class SecretFileError(RuntimeError):
    """The credentials file is unreadable, malformed or too widely readable."""


def generate_password() -> str:
    return secrets.token_urlsafe(_PASSWORD_BYTES)


def credentials_path(state_dir: Path) -> Path:
    return Path(state_dir) / CREDENTIALS_FILE


def read_secrets(state_dir: Path) -> dict[str, Any]:
    """The stored secrets, or {} when none were written yet."""
    path = credentials_path(state_dir)
    return load(path) if path.exists() else {}


def load(path: Path) -> dict[str, Any]:
    """The one parser of the credentials file. Refuses a group/world-readable file."""
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise SecretFileError(f"{path} is readable by other users (mode {mode:04o}); expected 0600")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SecretFileError(f"{path}: cannot read credentials ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise SecretFileError(f"{path}: expected a JSON object")
    return data


def password_of(secrets_data: dict[str, Any], username: str) -> str | None:
    """The generated password of a provisioned user in the parsed file, None when it has none."""
    password = (secrets_data.get("users") or {}).get(username)
    return password if isinstance(password, str) and password else None


def write_secrets(state_dir: Path, data: dict[str, Any]) -> None:
    """Atomically replace the credentials file; the file is never visible with a wider mode."""
    write_private(credentials_path(state_dir), json.dumps(data, indent=2, sort_keys=True))


def write_private(path: Path, text: str) -> None:
    """Atomically replace `path` with `text`, mode 0600 from the first byte."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # O_CREAT's mode is filtered by umask; make it exact
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def ensure_server_secrets(state_dir: Path) -> dict[str, Any]:
    """Load the secrets, generating the admin password and Flask key on first use."""
    data = read_secrets(state_dir)
    changed = False
    if not data.get("admin", {}).get("password"):
        data["admin"] = {"username": ADMIN_USERNAME, "password": generate_password()}
        changed = True
    if not data.get("flask_secret_key"):
        data["flask_secret_key"] = secrets.token_hex(32)
        changed = True
    data.setdefault("users", {})
    if changed:
        write_secrets(state_dir, data)
    return data


def admin_credentials(state_dir: Path) -> tuple[str, str]:
    admin = read_secrets(state_dir).get("admin") or {}
    if not admin.get("password"):
        raise SecretFileError(f"{credentials_path(state_dir)}: no admin credentials (run `local up` first)")
    return admin["username"], admin["password"]


def user_password(state_dir: Path, username: str) -> str:
    """The generated password of a provisioned user (a service principal)."""
    password = password_of(read_secrets(state_dir), username)
    if not password:
        raise SecretFileError(
            f"{credentials_path(state_dir)}: no password for user {username!r} (is it in the access plan?)"
        )
    return password
