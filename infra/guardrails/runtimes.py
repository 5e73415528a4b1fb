"""Databricks Runtime versions and the Apache Spark each one runs (guardrail LG-COMPUTE-002).

A cluster's `spark_version` is a runtime key such as `17.3.x-cpu-ml-scala2.13`: runtime 17.3, the ML variant on
CPUs, Scala 2.13. The Spark inside comes from Databricks' release notes ("Databricks Runtime release notes
versions and compatibility"); only majors listed here are known, anything else fails closed until added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Runtime major -> (Apache Spark major.minor, Scala versions the runtime ships). From Spark 4 (runtime 17) on,
# only Scala 2.13 exists; 16.4 LTS ships both.
KNOWN_RUNTIMES: dict[int, tuple[str, tuple[str, ...]]] = {
    12: ("3.3", ("2.12",)),
    13: ("3.4", ("2.12",)),
    14: ("3.5", ("2.12",)),
    15: ("3.5", ("2.12",)),
    16: ("3.5", ("2.12", "2.13")),
    17: ("4.0", ("2.13",)),
    18: ("4.1", ("2.13",)),
}

_RUNTIME_KEY = re.compile(r"^(?P<major>\d+)\.(?P<minor>\d+)\.x-(?:(?P<variant>[a-z0-9]+(?:-[a-z0-9]+)*)-)?"
                          r"scala(?P<scala>\d+\.\d+)$")


@dataclass(frozen=True)
class Runtime:
    key: str
    major: int
    minor: int
    variant: str          # "cpu-ml", "gpu-ml", "photon", "" (the standard runtime)
    scala: str


def parse_runtime(key: str) -> Runtime | None:
    """The parts of a runtime key, or None when it is not of the `<major>.<minor>.x-[variant-]scala<X.Y>` form."""
    match = _RUNTIME_KEY.match(key.strip())
    if match is None:
        return None
    return Runtime(key, int(match["major"]), int(match["minor"]), match["variant"] or "", match["scala"])


def spark_of(runtime: Runtime) -> str | None:
    """The Spark major.minor of a known runtime (with a Scala it ships), else None."""
    known = KNOWN_RUNTIMES.get(runtime.major)
    if known is None or runtime.scala not in known[1]:
        return None
    return known[0]


def spark_major(version: str) -> int | None:
    match = re.match(r"^\s*(\d+)\.", version or "")
    return int(match.group(1)) if match else None
