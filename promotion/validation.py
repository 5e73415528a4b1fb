"""What a person types, checked before any registry call: version numbers and alias names.

Both registries number versions 1, 2, ... (MLflow and Unity Catalog store them as integers) and name
aliases like identifiers (letters, digits and `_`, starting with a letter; MLflow reserves `latest`
and `v<number>`). Anything else is an invalid request (exit 6) with a one-line reason, never a
registry round trip that fails in some other way.
"""

from __future__ import annotations

import re

from .errors import InvalidRequest

MAX_VERSION = 2 ** 31 - 1
MAX_ALIAS = 255
_ALIAS = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def check_version(version: object) -> str:
    """The version as its canonical string ('7'), or InvalidRequest."""
    text = str(version).strip() if version is not None else ""
    if not re.fullmatch(r"[0-9]{1,10}", text) or not 1 <= int(text) <= MAX_VERSION:
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise InvalidRequest(f"--version {shown!r} is not a version number (a whole number from 1 to {MAX_VERSION})")
    return str(int(text))


def check_alias(alias: object) -> str:
    text = str(alias) if alias is not None else ""
    shown = text if len(text) <= 40 else text[:37] + "..."
    if not _ALIAS.fullmatch(text) or len(text) > MAX_ALIAS:
        raise InvalidRequest(f"--alias {shown!r} is not an alias name (letters, digits and _, starting with a letter, "
                             f"at most {MAX_ALIAS} characters)")
    if text.lower() == "latest" or re.fullmatch(r"[vV][0-9]+", text):
        raise InvalidRequest(f"--alias {shown!r} is reserved by MLflow (latest, v<number>)")
    return text
