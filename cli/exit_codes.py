"""Distinct exit codes per failure kind, so CI can tell them apart. Documented in docs/reference/exit-codes.md (generated)."""

OK = 0
UNEXPECTED = 1
INVALID_DEFINITIONS = 2
GUARDRAIL_VIOLATION = 3
PERMISSION_REFUSED = 4
GATE_FAILED = 5
INVALID_REQUEST = 6
APPROVAL_MISSING = 7
AUDIT_TAMPERED = 8
REGISTRY_UNAVAILABLE = 9
STALE_DOCS = 10
CREDENTIALS = 11
PREFLIGHT_FAILED = 12
USAGE = 64  # sysexits' EX_USAGE: the command line itself is wrong (argparse)

DESCRIPTIONS = {
    OK: "success",
    UNEXPECTED: "unexpected error (a bug: please report it)",
    INVALID_DEFINITIONS: "invalid environment definitions (located messages on stderr, nothing written; `check` also "
                         "reports the guardrail findings of every file that validated)",
    GUARDRAIL_VIOLATION: "a guardrail rule is violated and not waived (nothing written)",
    PERMISSION_REFUSED: "the acting principal may not do what was asked",
    GATE_FAILED: "a promotion gate failed; champion was not moved",
    INVALID_REQUEST: "the request itself is wrong, refused before any registry call: an unknown environment, model or "
                     "job named on the command line (with the closest name), a source not on the promotion path, "
                     "missing lineage, an unknown model or version, a malformed --version or --alias, an unusable "
                     "--state-dir (a file, not creatable, owned by someone else, or missing for `audit verify`) or "
                     "--out (a file, or a folder with other content), an approver key that cannot be enrolled",
    APPROVAL_MISSING: "the environment requires an approval that is not recorded or does not verify, or the approver "
                      "is not allowed (not enrolled, not in an approver group, the promoter, the commit's author, a "
                      "service principal or a look-alike)",
    AUDIT_TAMPERED: "the audit log is broken (edited, reordered or removed entries, a malformed log or head file) or "
                    "disagrees with its registry anchor or with the registry's state",
    REGISTRY_UNAVAILABLE: "the registry, Azure Resource Manager or Entra ID cannot be reached (e.g. the local registry "
                          "is not running)",
    STALE_DOCS: "generated files are out of date: documentation (`docs --check`, `generate --check`) or CI pipelines "
                "(`ci render --check`)",
    CREDENTIALS: "no usable credentials (none or several strategies configured, a required variable missing, or no "
                 "password for the principal in the local registry's credentials file)",
    PREFLIGHT_FAILED: "a preflight check failed (doctor)",
    USAGE: "the command line is wrong (unknown command or option, never completed from a prefix, with the closest "
           "one; a missing or malformed argument; sysexits' EX_USAGE): usage on stderr, nothing run",
}
