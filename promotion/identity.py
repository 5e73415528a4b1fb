"""Who is who: names compared the way people read them, look-alikes refused, four eyes.

Names are typed by people and stored in tags and audit entries, so the same person can appear as
`Head.Of.ML@contoso.com`, `head.of.ml@contoso.com` or `head.of.ml`, and an attacker can write a name
that *looks* like another one: a zero-width space inside it, a Cyrillic `ѕ` for the Latin `s`, a
full-width `ｓ`. The rules here:

* `normalise(name)`: NFKC, every format character (zero-width space, joiner, direction marks...)
  removed, whitespace trimmed, casefolded. Two names are the same name when they normalise equal.
* `name_problem(name)`: a name that is not plain printable ASCII as written (after NFKC) is refused
  outright as an approver identity: an e-mail address never needs anything else, and refusing is the
  only way to be sure no script mixes look alike.
* `skeleton(name)`: the normalised name with the ASCII characters people confuse folded together
  (`0`/`o`, `1`/`l`/`i`, `rn`/`m`, `_`/`-`/`.`); a person whose skeleton equals a service principal's
  looks like that principal and is refused.
* `same_person(a, b, signers)`: equal names, or an e-mail and a bare login with the same local part,
  or an enrolled signer's identity and one of its CI logins. Errs towards "same": four eyes refuses
  then, which is the safe direction.
"""

from __future__ import annotations

import unicodedata
from typing import Iterable

_CONFUSED = (("rn", "m"), ("vv", "w"), ("0", "o"), ("1", "l"), ("i", "l"), ("|", "l"), ("_", "-"), (".", "-"))


def normalise(name: str | None) -> str:
    text = unicodedata.normalize("NFKC", name or "")
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    return text.strip().casefold()


def name_problem(name: str | None) -> str | None:
    """Why `name` cannot be an approver's identity (invisible or non-ASCII characters), or None."""
    if not (name or "").strip():
        return "an approval needs the approver's identity"
    for ch in name:
        if unicodedata.category(ch) in ("Cf", "Cc", "Zl", "Zp") or (ch.isspace() and ch != " "):
            return (f"{name!r} contains the invisible character U+{ord(ch):04X} "
                    f"({unicodedata.name(ch, 'unnamed')}); a name with hidden characters is never an approver")
    folded = unicodedata.normalize("NFKC", name)
    for ch in folded if folded != name else name:
        if not ch.isascii():
            return (f"{name!r} contains the non-ASCII character {ch!r} (U+{ord(ch):04X} "
                    f"{unicodedata.name(ch, 'unnamed')}); look-alike names are never approvers")
    if folded != name:
        return f"{name!r} is not in its plain form ({folded!r}); look-alike names are never approvers"
    return None


def skeleton(name: str | None) -> str:
    text = normalise(name)
    for confusable, plain in _CONFUSED:
        text = text.replace(confusable, plain)
    return text


def local_part(name: str) -> str:
    return normalise(name).split("@", 1)[0]


def aliases_of(identity: str, signers: Iterable) -> set[str]:
    """Every normalised name the enrolled person `identity` is known by (identity, CI logins)."""
    names = {normalise(identity)}
    for signer in signers:
        if normalise(signer.identity) in names:
            names |= {normalise(n) for n in (signer.github, signer.azure_devops) if n}
    return names


def same_person(a: str | None, b: str | None, signers: Iterable = ()) -> bool:
    if not normalise(a) or not normalise(b):
        return False
    signers = list(signers)
    left, right = aliases_of(a, signers), aliases_of(b, signers)
    if left & right:
        return True
    # an e-mail against a bare login (an OS user name, a CI actor): the same local part is the same person
    return any(("@" in x) != ("@" in y) and local_part(x) == local_part(y) for x in left for y in right)
