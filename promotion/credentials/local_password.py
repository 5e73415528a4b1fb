"""`local-password`: the password of a principal in the local embedded registry's credentials file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lakegate.promotion.local import secret_file

from .base import Secret, Strategy


@dataclass(frozen=True)
class LocalLogin:
    """Basic-auth login to the local embedded registry."""

    strategy: str
    username: str
    password: Secret


class LocalPassword(Strategy):
    """The password of `principal` from the registry's credentials file (mode 0600), read by the one
    parser of that file (promotion/local/secret_file.py, which writes it)."""

    name = "local-password"
    fields = ("credentials_file", "principal")   # given by the caller, not environment variables

    def __init__(self, credentials_file: str | os.PathLike | None, principal: str):
        self.credentials_file = Path(credentials_file) if credentials_file else None
        self.principal = principal

    def applies(self) -> bool:
        return self.credentials_file is not None and self.credentials_file.exists()

    def how_to_configure(self) -> str:
        return f"{self.name}: start the local registry (`python main.py local up`) to create its credentials file"

    def build(self) -> LocalLogin:
        path = self.credentials_file
        if path is None or not path.is_file():
            raise self._fail(f"credentials file {path} does not exist (run `python main.py local up`)")
        try:
            password = secret_file.password_of(secret_file.load(path), self.principal)
        except secret_file.SecretFileError as e:
            raise self._fail(str(e)) from None
        if not password:
            raise self._fail(f"{path} has no password for principal {self.principal}")
        return LocalLogin(self.name, self.principal, Secret(password))

    def describe(self, result: LocalLogin) -> str:
        return f"principal {result.username}"

    def __repr__(self) -> str:
        return f"LocalPassword(credentials_file={str(self.credentials_file)!r}, principal={self.principal!r})"
