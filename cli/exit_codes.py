"""Distinct exit codes per failure kind, so CI can tell them apart. Documented in the README."""

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
    INVALID_DEFINITIONS: "invalid environment definitions (located messages on stderr)",
    GUARDRAIL_VIOLATION: "a guardrail rule is violated and not waived",
    PERMISSION_REFUSED: "the acting principal may not do what was asked",
    GATE_FAILED: "a promotion gate failed; champion was not moved",
    INVALID_REQUEST: "the request itself is wrong (source not on the promotion path, missing lineage, unknown model or "
                     "version, a malformed --version or --alias, an unusable --state-dir, a report --out that is a file "
                     "or a folder with other content)",
    APPROVAL_MISSING: "the environment requires an approval that is not recorded or does not verify (or the approver "
                      "is not allowed: not enrolled, the promoter, the commit's author, a service principal)",
    AUDIT_TAMPERED: "the audit log is broken (edited, reordered or removed entries, a malformed file) or disagrees "
                    "with its anchor or the state in the registry",
    REGISTRY_UNAVAILABLE: "the registry cannot be reached (e.g. the local registry is not running)",
    STALE_DOCS: "generated documentation (README reference, RULES.md) is out of date",
    CREDENTIALS: "no usable credentials (none or several strategies configured, or a required variable missing)",
    PREFLIGHT_FAILED: "a preflight check failed (doctor)",
    USAGE: "the command line is wrong (unknown command or option, a missing or malformed argument): usage on stderr",
}
