"""SSH signatures over approval statements, through OpenSSH's own `ssh-keygen -Y sign / verify`.

The same mechanism git uses for signed commits (`gpg.format = ssh`): an approver signs with the SSH
key they already have (a file, an agent, a security key); a verifier holds an allowed_signers file
mapping identities to public keys. Here that file is built from the environment's reviewed YAML
(`promotion.approval.signers`) every time, in a private temporary folder, so the keys the verifier
trusts are exactly the enrolled ones. The namespace `lakegate-approval` keeps an approval signature
from being valid as any other kind of SSH signature (a git commit, a file signature) and back.

ssh-keygen runs with a minimal environment (PATH, HOME, SSH_AUTH_SOCK for an agent): nothing of
lakegate's, and never a password, reaches it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Iterable

from .errors import ApprovalMissing

NAMESPACE = "lakegate-approval"
_ARMOR_BEGIN, _ARMOR_END = "-----BEGIN SSH SIGNATURE-----", "-----END SSH SIGNATURE-----"
_TIMEOUT_S = 120  # signing may wait for a passphrase or a security-key touch


class SigningError(ApprovalMissing):
    """ssh-keygen is missing, or a key or signature could not be used."""


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen") or ("/usr/bin/ssh-keygen" if os.path.exists("/usr/bin/ssh-keygen") else None)
    if not found:
        raise SigningError("ssh-keygen (OpenSSH 8.2 or later) is needed to sign and verify approvals; install openssh-client")
    return found


def _env() -> dict[str, str]:
    keep = ("PATH", "HOME", "SSH_AUTH_SOCK", "LANG", "LC_ALL", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


def _run(args: list[str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    # A passphrase prompt goes to /dev/tty (not these pipes), so signing still works at a terminal.
    try:
        return subprocess.run([ssh_keygen(), *args], input=stdin if stdin is not None else b"", capture_output=True,
                              env=_env(), timeout=_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise SigningError(f"ssh-keygen {args[0]} {args[1]} did not finish in {_TIMEOUT_S} s") from None


def allowed_signers(signers: Iterable) -> str:
    """allowed_signers text for the enrolled signers: `identity namespaces="lakegate-approval" key`."""
    return "".join(f'{s.identity} namespaces="{NAMESPACE}" {s.key}\n' for s in signers)


def key_fingerprint(key: str) -> str:
    """`SHA256:<base64>` of an enrolled public key, as `ssh-keygen -l` prints it."""
    blob = base64.b64decode(key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def signers_digest(signers: Iterable) -> str:
    """sha256 of the signer list an approval is verified against (`promotion.approval.signers`), in a canonical form
    (sorted by identity; every field counts: key and CI logins), so an audit entry shows which definitions verified it."""
    listed = sorted((s.model_dump(mode="json") for s in signers), key=lambda s: json.dumps(s, sort_keys=True))
    return hashlib.sha256(json.dumps(listed, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def public_key_of(key_path: str | os.PathLike) -> str:
    """`type base64` of a key file: the `.pub` next to a private key, the file itself when it is a
    public key, else derived from the private key (which may ask for its passphrase)."""
    path = Path(key_path).expanduser()
    candidates = [path] if path.suffix == ".pub" else [Path(str(path) + ".pub")]
    for candidate in candidates:
        if candidate.is_file():
            return _key_type_and_blob(candidate.read_text(encoding="utf-8", errors="replace"), candidate)
    if not path.is_file():
        raise SigningError(f"no key at {path}")
    result = _run(["-y", "-f", str(path)])
    if result.returncode != 0:
        raise SigningError(f"cannot read the public half of {path}: {_first_line(result.stderr)}")
    return _key_type_and_blob(result.stdout.decode(errors="replace"), path)


def _key_type_and_blob(text: str, where: Path) -> str:
    parts = text.strip().split()
    if len(parts) < 2:
        raise SigningError(f"{where} does not hold an SSH public key")
    return f"{parts[0]} {parts[1]}"


def sign(key_path: str | os.PathLike, message: bytes) -> str:
    """The armored signature of `message` by the key (a private key file, or a public key whose
    private half is in the ssh-agent). ssh-keygen may prompt for the key's passphrase on the terminal."""
    path = Path(key_path).expanduser()
    if not path.is_file():
        raise SigningError(f"no key at {path}")
    result = _run(["-Y", "sign", "-f", str(path), "-n", NAMESPACE], stdin=message)
    if result.returncode != 0 or _ARMOR_BEGIN.encode() not in result.stdout:
        raise SigningError(f"ssh-keygen could not sign with {path}: {_first_line(result.stderr)}")
    return result.stdout.decode("ascii")


def verify(signers: Iterable, identity: str, message: bytes, armored: str) -> str | None:
    """None when `armored` is a valid `lakegate-approval` signature of `message` by the key enrolled
    for `identity`; otherwise why not (one line)."""
    signers = list(signers)
    if not any(s.identity == identity for s in signers):
        return f"{identity} has no enrolled key"
    with _scratch() as folder:
        (folder / "allowed_signers").write_text(allowed_signers(signers))
        (folder / "approval.sig").write_text(armored)
        result = _run(["-Y", "verify", "-f", str(folder / "allowed_signers"), "-I", identity, "-n", NAMESPACE,
                       "-s", str(folder / "approval.sig")], stdin=message)
    if result.returncode == 0:
        return None
    return f"the signature does not verify for {identity} ({_first_line(result.stderr) or 'invalid signature'})"


def signer_of(signers: Iterable, armored: str) -> list[str]:
    """The enrolled identities whose key made the signature (not a verification: see `verify`)."""
    with _scratch() as folder:
        (folder / "allowed_signers").write_text(allowed_signers(signers))
        (folder / "approval.sig").write_text(armored)
        result = _run(["-Y", "find-principals", "-f", str(folder / "allowed_signers"), "-n", NAMESPACE,
                       "-s", str(folder / "approval.sig")])
    if result.returncode != 0:
        return []
    return [line.strip() for line in result.stdout.decode(errors="replace").splitlines() if line.strip()]


def compact(armored: str) -> str:
    """The armored signature as one line of base64 (for registry tags)."""
    lines = [line.strip() for line in armored.strip().splitlines()]
    if not lines or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        raise SigningError("not an SSH signature (expected -----BEGIN SSH SIGNATURE-----)")
    body = "".join(lines[1:-1])
    try:
        base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise SigningError("the SSH signature's base64 does not decode") from None
    return body


def armor(body: str) -> str:
    return "\n".join([_ARMOR_BEGIN, *textwrap.wrap(body, 70), _ARMOR_END]) + "\n"


class _scratch:
    """A private temporary folder (mode 0700), removed afterwards."""

    def __enter__(self) -> Path:
        self.path = Path(tempfile.mkdtemp(prefix="lakegate-sig-"))
        return self.path

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def _first_line(raw: bytes | str | None) -> str:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else (raw or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:200] if lines else ""
