""""did you mean" for a name that is not known: the closest known names, by difflib's ratio."""

from __future__ import annotations

import difflib
from typing import Iterable


def close_names(name: str, known: Iterable[str], limit: int = 1) -> list[str]:
    """The known names closest to `name` (case-insensitive), best first; [] when none is close."""
    known = [k for k in known if isinstance(k, str)]
    folded = {k.casefold(): k for k in known}
    found = difflib.get_close_matches(str(name).casefold(), list(folded), n=limit, cutoff=0.6)
    return [folded[f] for f in found]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """` (did you mean SELECT?)`, or "" when no known name is close."""
    found = close_names(name, known)
    return f" (did you mean {found[0]}?)" if found else ""
