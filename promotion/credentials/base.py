"""What every credential strategy is: a name, the fields it reads, `applies()` and `build()`.

`Secret` holds a secret value and prints as `***`; `log` (`lakegate.credentials`) is the family's one
logger: it names the strategy used, never a secret.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from typing import Any, ClassVar, Sequence

from lakegate.promotion.errors import CredentialsError

log = logging.getLogger("lakegate.credentials")


class Secret:
    """A secret value that never prints: str() and repr() are `***`; `reveal()` is the only way out."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __str__(self) -> str:
        return "***"

    __repr__ = __str__


def first_set(names: Sequence[str]) -> tuple[str, str] | None:
    """(name, value) of the first environment variable of `names` that is set and not empty."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return name, value
    return None


class Strategy(ABC):
    """One way of obtaining credentials. `resolve()` returns None when the strategy does not apply."""

    name: ClassVar[str]
    fields: ClassVar[tuple[str, ...]]   # the inputs it reads (environment variables unless noted)

    @abstractmethod
    def applies(self) -> bool:
        """True when the inputs that select this strategy are present (it may still be incomplete)."""

    @abstractmethod
    def build(self) -> Any:
        """Build the credentials; raise CredentialsError (prefixed with the name) when incomplete."""

    @abstractmethod
    def how_to_configure(self) -> str:
        """One line telling a person what makes this strategy apply."""

    def describe(self, result: Any) -> str:
        """What was used, for the log line of the chain (never a secret)."""
        return str(getattr(result, "description", ""))

    def resolve(self) -> Any:
        return self.build() if self.applies() else None

    def _fail(self, message: str) -> CredentialsError:
        return CredentialsError(self.name, message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
