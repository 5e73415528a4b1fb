"""The loader never crashes and is bounded: every hostile or broken input is one located problem, and an
error in one file never produces a false error in another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakegate.infra.loader import load_environments
from lakegate.infra.yaml_source import MAX_DEPTH
from lakegate.infra.yaml_text import MAX_FILE_BYTES

from .helpers import copy_examples, edit, line_of, problems_of

ROOT = Path(__file__).resolve().parent.parent
CLI_ENV = {**os.environ, "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CHECKPOINT_DISABLE": "1"}




def cli_check(directory: Path, cwd: Path, preexec_fn=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "check", "--environments", str(directory)],
                          cwd=cwd, env=CLI_ENV, capture_output=True, text=True, timeout=300, preexec_fn=preexec_fn)


WAIVER = "waivers:\n  - {id: LG-PROD-002, reason: accepted for the pilot quarter, approved_by: ciso@contoso.com, expires: %s}\ncredentials:\n"
LOCATION = "  location: westeurope"
TAGS = "  tags:\n    cost_center: ml-dev"
VNET = "cidr: 10.10.0.0/16\n    public_subnet: 10.10.0.0/22\n    private_subnet: 10.10.4.0/22"
GRANT = "  - {principal: sp-lakegate-dev, on: %s, privileges: [%s]}\ncompute:\n"

# (id, file, old text, new text, line pattern, expected problem after "file:line: ")
TEXT_CASES = [
    # Characters YAML does not allow raw (PyYAML raised ReaderError: a traceback) and escaped ones in values.
    ("nul", "dev.yaml", LOCATION, "  location: west\x00europe", r"location: west",
     "control character U+0000 (NUL) at column 17 is not allowed in an environment file; remove it"),
    ("bel", "dev.yaml", LOCATION, "  location: west\x07europe", r"location: west",
     "control character U+0007 (BEL) at column 17 is not allowed in an environment file; remove it"),
    ("escape", "dev.yaml", LOCATION, "  location: west\x1beurope", r"location: west",
     "control character U+001B (ESC) at column 17 is not allowed in an environment file; remove it"),
    ("del", "dev.yaml", LOCATION, "  location: west\x7feurope", r"location: west",
     "control character U+007F (DEL) at column 17 is not allowed in an environment file; remove it"),
    ("line-separator", "dev.yaml", LOCATION, "  location: west\u2028europe", r"location: west",
     "character U+2028 (LINE SEPARATOR) at column 17 is not allowed in an environment file; remove it"),
    ("nonchar", "dev.yaml", LOCATION, "  location: west\uffffeurope", r"location: west",
     "character U+FFFF at column 17 is not allowed in an environment file; remove it"),
    ("escaped-nul", "dev.yaml", LOCATION, '  location: "west\\0europe"', r"location: \"west",
     "azure.location: control character U+0000 (NUL) in the value; remove it"),
    ("escaped-bel", "dev.yaml", LOCATION, '  location: "west\\aeurope"', r"location: \"west",
     "azure.location: control character U+0007 (BEL) in the value; remove it"),
    # Tags: only the plain core schema, nothing is ever constructed from a tag.
    ("tag", "dev.yaml", LOCATION, "  location: !foo westeurope", r"!foo", "azure.location: unknown YAML tag '!foo'"),
    ("python-object", "dev.yaml", LOCATION, "  location: !!python/object:os.system {}", r"python/object",
     "azure.location: unknown YAML tag '!!python/object:os.system'"),
    ("python-apply", "dev.yaml", LOCATION, "  location: !!python/object/apply:os.system [echo hi]", r"python/object",
     "azure.location: unknown YAML tag '!!python/object/apply:os.system'"),
    ("binary", "dev.yaml", LOCATION, "  location: !!binary aGVsbG8=", r"binary", "azure.location: unknown YAML tag '!!binary'"),
    ("set", "dev.yaml", TAGS, "  tags: !!set {a, b}", r"!!set", "azure.tags: unknown YAML tag '!!set'"),
    ("tag-on-mapping", "dev.yaml", "azure:\n", "azure: !foo\n", r"^azure: !foo", "azure: unknown YAML tag '!foo'"),
    ("str-on-mapping", "dev.yaml", TAGS, "  tags: !!str {a: b}", r"!!str", "azure.tags: YAML tag '!!str' does not apply to a mapping"),
    ("tag-on-key", "dev.yaml", LOCATION, "  !foo location: westeurope", r"!foo location", "azure: unknown YAML tag '!foo'"),
    ("bad-bool", "dev.yaml", "  public_network_access: true", "  public_network_access: !!bool maybe", r"maybe",
     "storage.public_network_access: invalid boolean 'maybe'"),
    # Dates and numbers the core constructors refuse (PyYAML raised ValueError).
    ("invalid-date", "prod.yaml", "credentials:\n", WAIVER % "2027-13-45", r"2027-13-45",
     "waivers[0].expires: invalid date '2027-13-45'"),
    ("invalid-day", "prod.yaml", "credentials:\n", WAIVER % "2027-02-30", r"2027-02-30",
     "waivers[0].expires: invalid date '2027-02-30'"),
    ("invalid-time", "prod.yaml", "credentials:\n", WAIVER % "2027-01-01 25:00:00", r"25:00:00",
     "waivers[0].expires: invalid date '2027-01-01 25:00:00'"),
    ("not-a-timestamp", "prod.yaml", "credentials:\n", WAIVER % "!!timestamp soon", r"soon",
     "waivers[0].expires: invalid date 'soon'"),
    ("huge-integer", "dev.yaml", "      max_workers: 2\n", "      max_workers: " + "9" * 5000 + "\n", r"max_workers: 9999",
     "compute.clusters[0].max_workers: invalid integer '" + "9" * 60 + "...'"),
    # Aliases: bounded, never recursive, never before their anchor; merge keys refused.
    ("recursive-alias", "dev.yaml", TAGS, "  tags: &x [*x]", r"tags: &x",
     "azure.tags[0]: recursive alias '*x': it is inside the value it names"),
    ("recursive-alias-mapping", "dev.yaml", TAGS, "  tags: &x\n    a: *x", r"    a: \*x",
     "azure.tags.a: recursive alias '*x': it is inside the value it names"),
    ("alias-before-anchor", "dev.yaml", LOCATION + "\n  resource_group: rg-lakegate-dev\n" + TAGS,
     "  location: *region\n  resource_group: rg-lakegate-dev\n  tags:\n    cost_center: &region westeurope", r"location: \*region",
     "azure.location: alias '*region' has no anchor '&region' before it"),
    ("merge-key", "dev.yaml", LOCATION, "  <<: {location: westeurope}", r"<<:",
     "azure: merge keys (<<) are not supported: write the fields out"),
    # Nesting: refused at the limit, before any recursion (thousands of `[` hit RecursionError in PyYAML).
    ("deep-flow", "dev.yaml", TAGS, "  tags: " + "[" * 5000 + "]" * 5000, r"tags: \[\[",
     f"azure.tags[0][0][0][0]...: nested deeper than {MAX_DEPTH} levels"),
    ("deep-mapping", "dev.yaml", TAGS, "  tags: " + "{a: " * 3000 + "}" * 3000, r"tags: \{a",
     f"azure.tags.a.a.a.a...: nested deeper than {MAX_DEPTH} levels"),
    ("deep-block", "dev.yaml", TAGS, "  tags:\n" + "".join("  " * (i + 2) + "-\n" for i in range(MAX_DEPTH + 5)),
     "^" + "  " * MAX_DEPTH + "-$", f"azure.tags[0][0][0][0]...: nested deeper than {MAX_DEPTH} levels"),
    # Structure.
    ("complex-key", "dev.yaml", LOCATION, "  ? [a, b]\n  : x\n" + LOCATION, r"\? \[a, b\]", "azure: keys must be plain strings"),
    ("alias-key", "dev.yaml", LOCATION, LOCATION + "\n  *a : x", r"\*a : x", "azure: keys must be plain strings"),
    ("empty-key", "dev.yaml", LOCATION, LOCATION + "\n  '': x", r"'': x", "azure: empty key"),
    ("second-document", "dev.yaml", "name: dev\n", "name: dev\n---\nname: dev\n", r"^---$",
     "a second YAML document (---): an environment file holds exactly one"),
    ("tab-indent", "dev.yaml", LOCATION, "\tlocation: westeurope", r"^\tlocation",
     "invalid YAML: found a tab character that violates indentation (a tab: YAML indents with spaces only)"),
    ("syntax", "dev.yaml", LOCATION, "  location: [westeurope\n  x: ]", r"x: \]", None),
    # Types: integers where strings are expected, numbers as names and privileges.
    ("name-is-a-number", "dev.yaml", "name: dev\n", "name: 123\n", r"^name: 123", "name: input should be a valid string"),
    ("integer-for-string", "dev.yaml", LOCATION, "  location: 42", r"location: 42", "azure.location: input should be a valid string"),
    ("privilege-not-a-string", "dev.yaml", "privileges: [USE_CATALOG, BROWSE]", "privileges: [1, BROWSE]", r"privileges: \[1,",
     "grants[0].privileges[0]: input should be a valid string"),
    ("privilege-mapping", "dev.yaml", "privileges: [USE_CATALOG, BROWSE]", "privileges: [{a: b}, BROWSE]", r"privileges: \[\{a",
     "grants[0].privileges[0]: input should be a valid string"),
    # IPv6: refused by the model, never a TypeError in comparisons.
    ("ipv6-vnet", "dev.yaml", "cidr: 10.10.0.0/16", "cidr: fd00::/8", r"cidr: fd00",
     "workspace.vnet.cidr: fd00::/8 is IPv6; VNet injection needs IPv4 CIDRs"),
    ("ipv6-subnet", "dev.yaml", "public_subnet: 10.10.0.0/22", "public_subnet: fd00::/64", r"public_subnet: fd00",
     "workspace.vnet.public_subnet: fd00::/64 is IPv6; VNet injection needs IPv4 CIDRs"),
    ("invalid-cidr", "dev.yaml", "cidr: 10.10.0.0/16", "cidr: 10.10.0.0/33", r"cidr: 10.10.0.0/33",
     "workspace.vnet.cidr: invalid CIDR: '10.10.0.0/33' does not appear to be an IPv4 or IPv6 network"),
    # Grants only on the environment's own catalog (and `<catalog>_<name>` securables).
    ("grant-other-catalog", "dev.yaml", "compute:\n", GRANT % ("catalog prod", "SELECT"), r"on: catalog prod",
     "grants[6].on: catalog 'prod' belongs to environment prod (environments/prod.yaml); declare grants on it in that file"),
    ("grant-other-schema", "dev.yaml", "compute:\n", GRANT % ("schema staging.ml", "USE_SCHEMA"), r"on: schema staging",
     "grants[6].on: schema staging.ml is in catalog 'staging', which belongs to environment staging "
     "(environments/staging.yaml); declare grants on it in that file"),
    ("grant-other-location", "dev.yaml", "compute:\n", GRANT % ("external_location prod_landing", "READ_FILES"), r"prod_landing",
     "grants[6].on: external location 'prod_landing' belongs to environment prod (environments/prod.yaml); "
     "declare grants on it in that file"),
    ("grant-unprefixed-credential", "dev.yaml", "compute:\n", GRANT % ("storage_credential shared", "READ_FILES"), r"credential shared",
     "grants[6].on: storage credential 'shared' is not this environment's: names of its storage credentials start with 'dev_'"),
    ("grant-unknown-catalog", "dev.yaml", "compute:\n", GRANT % ("catalog qa", "SELECT"), r"on: catalog qa",
     "grants[6].on: unknown catalog 'qa'"),
]


@pytest.mark.parametrize("file,old,new,line_pattern,message", [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES])
def test_bad_input_is_exactly_one_located_problem(defs, file, old, new, line_pattern, message):
    path = defs / file
    edit(path, old, new)
    found = problems_of(defs)
    prefix = f"environments/{file}:{line_of(path, line_pattern)}: "
    if message is None:  # the parser's own wording: only its location is asserted
        assert len(found) == 1 and found[0].startswith(prefix + "invalid YAML: "), found
    else:
        assert found == [prefix + message]


def byte_line(path: Path, needle: bytes) -> int:
    """line_of for a file that is not UTF-8."""
    data = path.read_bytes()
    return data[: data.index(needle)].count(b"\n") + 1


def write_bytes_cases():
    def text(path: Path) -> str:
        return path.read_text(encoding="utf-8")

    return [
        ("latin-1", lambda p: p.write_bytes(text(p).replace(LOCATION, "  location: west\xe9urope").encode("latin-1")),
         lambda p: f"environments/dev.yaml:{byte_line(p, b'location: west')}: not UTF-8: byte 0xe9 at column 17; "
                   "save the file as UTF-8"),
        ("utf-16", lambda p: p.write_bytes(text(p).encode("utf-16")),
         "environments/dev.yaml:1: the file is UTF-16 or UTF-32 (byte order mark); save it as UTF-8"),
        ("too-big", lambda p: p.write_text(text(p) + "# " + "x" * MAX_FILE_BYTES + "\n"),
         lambda p: f"environments/dev.yaml:1: the file is {p.stat().st_size:,} bytes; "
                   f"an environment file may have at most {MAX_FILE_BYTES:,} bytes"),
        ("empty", lambda p: p.write_text(""), "environments/dev.yaml:1: the file is empty"),
        ("only-comments", lambda p: p.write_text("# nothing yet\n"), "environments/dev.yaml:1: the file is empty"),
        ("scalar", lambda p: p.write_text("just a sentence\n"), "environments/dev.yaml:1: an environment file holds a mapping of fields"),
        ("sequence", lambda p: p.write_text("\n- name: dev\n"), "environments/dev.yaml:2: an environment file holds a mapping of fields"),
        ("null-document", lambda p: p.write_text("---\n...\n"), "environments/dev.yaml:2: an environment file holds a mapping of fields"),
        ("null", lambda p: p.write_text("\n~\n"), "environments/dev.yaml:2: an environment file holds a mapping of fields"),
        ("tagged-root", lambda p: p.write_text("!foo\n" + text(p)), "environments/dev.yaml:1: unknown YAML tag '!foo'"),
    ]


@pytest.mark.parametrize("write,expected", [c[1:] for c in write_bytes_cases()], ids=[c[0] for c in write_bytes_cases()])
def test_unreadable_files_are_located(defs, write, expected):
    path = defs / "dev.yaml"
    write(path)
    assert problems_of(defs) == [expected(path) if callable(expected) else expected]


def test_duplicate_anchor_is_located(defs):
    path = defs / "dev.yaml"
    edit(path, "  location: westeurope\n  resource_group: rg-lakegate-dev",
         "  location: &a westeurope\n  resource_group: &a rg-lakegate-dev")
    first, second = line_of(path, "location: &a"), line_of(path, "resource_group: &a")
    assert problems_of(defs) == [
        f"environments/dev.yaml:{second}: azure.resource_group: anchor '&a' is already defined (line {first})"]


def test_utf8_byte_order_mark_is_accepted(defs):
    path = defs / "dev.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    envs = load_environments(defs)
    assert envs["dev"].locate("workspace", "sku").endswith(f"dev.yaml:{line_of(defs / 'dev.yaml', r'^  sku:')}")


def test_aliases_within_bounds_load(defs):
    edit(defs / "dev.yaml", "  location: westeurope", "  location: &region westeurope")
    edit(defs / "dev.yaml", "    cost_center: ml-dev", "    cost_center: ml-dev\n    region: *region")
    assert load_environments(defs)["dev"].azure.tags["region"] == "westeurope"


def test_a_refused_value_yields_no_follow_on_errors(defs):
    # An unknown tag on a required section: neither "required field is missing" nor type errors follow it.
    edit(defs / "dev.yaml", "workspace:\n", "workspace: !!omap\n")
    assert problems_of(defs) == [f"environments/dev.yaml:{line_of(defs / 'dev.yaml', '!!omap')}: workspace: unknown YAML tag '!!omap'"]


def alias_bomb(levels: int = 10) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_fast(defs):
    path = defs / "dev.yaml"
    path.write_text(path.read_text() + alias_bomb())
    started = time.perf_counter()
    found = problems_of(defs)
    assert time.perf_counter() - started < 10
    line = line_of(path, r"^a4: ")
    assert found == [f"environments/dev.yaml:{line}: a4[0]: aliases expand to more than 10,000 values (at '*a3'); "
                     "write the values out or use fewer aliases"]


def test_alias_bomb_cli_is_bounded_in_time_and_memory(tmp_path):
    defs = copy_examples(tmp_path / "environments")
    path = defs / "dev.yaml"
    path.write_text(path.read_text() + alias_bomb())
    line = line_of(path, r"^a4: ")

    def limit_memory():
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (600 * 2**20, 600 * 2**20))

    started = time.perf_counter()
    result = cli_check(defs, tmp_path, preexec_fn=limit_memory)
    assert time.perf_counter() - started < 60  # the CLI's own start-up included; the machine is shared
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"environments/dev.yaml:{line}: a4[0]: aliases expand to more than 10,000 values" in result.stderr

    # The loader alone, measured in a fresh interpreter: time and peak memory of refusing the bomb. Peak memory is
    # VmHWM of this process's own address space: ru_maxrss survives exec and would report pytest's size at fork.
    probe = (
        "import json, re, sys, time\n"
        "from infra.errors import DefinitionError\n"
        "from infra.loader import load_environments\n"
        "started = time.perf_counter()\n"
        "try:\n"
        "    load_environments(sys.argv[1])\n"
        "except DefinitionError as exc:\n"
        "    problems = [str(p) for p in exc.problems]\n"
        "print(json.dumps({'seconds': time.perf_counter() - started, 'problems': problems,\n"
        "                  'peak_mb': int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read())[1]) / 1024}))\n"
    )
    measured = subprocess.run([sys.executable, "-c", probe, str(defs)], cwd=ROOT, env=CLI_ENV, capture_output=True,
                              text=True, timeout=120, preexec_fn=limit_memory)
    assert measured.returncode == 0, measured.stderr
    report = json.loads(measured.stdout)
    assert len(report["problems"]) == 1 and "aliases expand to more than 10,000 values" in report["problems"][0]
    assert report["seconds"] < 10
    assert report["peak_mb"] < 200, report


def test_many_values_without_aliases_are_bounded(defs):
    path = defs / "dev.yaml"
    path.write_text(path.read_text() + "padding: [" + ", ".join(["x"] * 120_000) + "]\n")
    started = time.perf_counter()
    found = problems_of(defs)
    assert time.perf_counter() - started < 10
    assert len(found) == 1 and "more than 100,000 values" in found[0], found


CLI_CASES = [
    ("nul", "dev.yaml", LOCATION, "  location: west\x00europe", r"location: west",
     "control character U+0000 (NUL) at column 17 is not allowed in an environment file; remove it"),
    ("tag", "dev.yaml", LOCATION, "  location: !!python/object/apply:os.system [echo pwned]", r"python/object",
     "azure.location: unknown YAML tag '!!python/object/apply:os.system'"),
    ("date", "prod.yaml", "credentials:\n", WAIVER % "2027-13-45", r"2027-13-45", "waivers[0].expires: invalid date '2027-13-45'"),
    ("recursive-alias", "dev.yaml", TAGS, "  tags: &x [*x]", r"tags: &x",
     "azure.tags[0]: recursive alias '*x': it is inside the value it names"),
    ("deep", "dev.yaml", TAGS, "  tags: " + "[" * 20000 + "]" * 20000, r"tags: \[\[",
     f"azure.tags[0][0][0][0]...: nested deeper than {MAX_DEPTH} levels"),
    ("ipv6", "dev.yaml", "cidr: 10.10.0.0/16", "cidr: fd00::/8", r"cidr: fd00",
     "workspace.vnet.cidr: fd00::/8 is IPv6; VNet injection needs IPv4 CIDRs"),
]


@pytest.mark.parametrize("file,old,new,line_pattern,message", [c[1:] for c in CLI_CASES], ids=[c[0] for c in CLI_CASES])
def test_cli_exits_2_with_the_located_line(tmp_path, file, old, new, line_pattern, message):
    defs = copy_examples(tmp_path / "environments")
    edit(defs / file, old, new)
    result = cli_check(defs, ROOT)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{defs / file}:{line_of(defs / file, line_pattern)}: {message}" in result.stderr.splitlines()
    assert "1 problem(s) in" in result.stderr


# -- an error in one file never produces a false error in another ------------------------------------------

def test_one_bad_field_in_dev_is_one_problem_in_dev(defs):
    # prod.yaml binds its catalog to dev, staging promotes from dev: before, both got "unknown environment 'dev'".
    edit(defs / "dev.yaml", "sku: premium", "sku: premuim")
    assert problems_of(defs) == [
        f"environments/dev.yaml:{line_of(defs / 'dev.yaml', 'premuim')}: workspace.sku: 'premuim' is not one of premium, standard, trial"]


@pytest.mark.parametrize("write", [
    lambda p: edit(p, "  location: westeurope", "  location: [westeurope\n  x: ]"),  # unparseable
    lambda p: p.write_text("- not a mapping\n"),
    lambda p: edit(p, "name: dev\n", "name: development\n"),  # name does not match the file
    lambda p: edit(p, "  catalog: dev", "  catalog: Dev!"),  # the catalog itself is invalid
    lambda p: edit(p, "unity_catalog:\n", "unity_catalog: !foo\n"),
], ids=["syntax", "not-a-mapping", "name-mismatch", "invalid-catalog", "tagged-section"])
def test_a_broken_dev_yaml_causes_no_problem_in_other_files(defs, write):
    write(defs / "dev.yaml")
    found = problems_of(defs)
    assert found and all(p.startswith("environments/dev.yaml:") for p in found), found


def test_staging_name_mismatch_causes_no_problem_in_prod(defs):
    edit(defs / "staging.yaml", "name: staging", "name: stage")
    assert problems_of(defs) == [
        f"environments/staging.yaml:{line_of(defs / 'staging.yaml', '^name: stage')}: name: 'stage' does not match the file name 'staging.yaml'"]


def test_real_cross_file_errors_are_still_reported_next_to_a_broken_file(defs):
    edit(defs / "dev.yaml", "sku: premium", "sku: premuim")
    edit(defs / "staging.yaml", "  from: dev", "  from: qa")
    found = problems_of(defs)
    line = line_of(defs / "staging.yaml", "from: qa")
    assert f"environments/staging.yaml:{line}: promotion.from: unknown environment 'qa' (known: dev, prod, staging)" in found
    assert len(found) == 2


def test_names_read_from_a_broken_file_still_count_as_taken(defs):
    # dev.yaml is invalid (bad sku) but still says its storage account: staging taking it is a real error.
    edit(defs / "dev.yaml", "sku: premium", "sku: premuim")
    edit(defs / "staging.yaml", "  account_name: stlakegatestaging", "  account_name: stlakegatedev")
    found = problems_of(defs)
    dev_account = line_of(defs / "dev.yaml", "^  account_name: stlakegatedev")
    line = line_of(defs / "staging.yaml", "^  account_name: stlakegatedev")
    assert (f"environments/staging.yaml:{line}: storage.account_name: storage account 'stlakegatedev' is already used by "
            f"environments/dev.yaml:{dev_account}") in found
    assert len(found) == 2, found


def test_grant_on_the_catalog_of_a_broken_file_names_its_owner(defs):
    edit(defs / "prod.yaml", "sku: premium", "sku: premuim")
    edit(defs / "dev.yaml", "compute:\n", GRANT % ("catalog prod", "SELECT"))
    found = problems_of(defs)
    line = line_of(defs / "dev.yaml", "on: catalog prod")
    assert (f"environments/dev.yaml:{line}: grants[6].on: catalog 'prod' belongs to environment prod "
            "(environments/prod.yaml); declare grants on it in that file") in found
    assert len(found) == 2, found


def test_grant_when_a_broken_file_hides_its_catalog_is_still_refused(defs):
    # prod.yaml cannot be read at all, so whose catalog `prod` is is unknown: the grant is wrong in dev.yaml either way.
    (defs / "prod.yaml").write_text("name: prod\nworkspace: [\n")
    edit(defs / "dev.yaml", "compute:\n", GRANT % ("catalog prod", "SELECT"))
    found = [p for p in problems_of(defs) if p.startswith("environments/dev.yaml")]
    line = line_of(defs / "dev.yaml", "on: catalog prod")
    assert found == [f"environments/dev.yaml:{line}: grants[6].on: catalog 'prod' is not this environment's catalog 'dev'; "
                     "declare grants in the file of the environment that owns it"]


def test_own_prefixed_location_grant_is_accepted(defs):
    edit(defs / "dev.yaml", "compute:\n", GRANT % ("external_location dev_landing", "READ_FILES"))
    assert load_environments(defs)["dev"].grants[6].on.name == "dev_landing"


def test_overlap_check_uses_a_broken_files_network(defs):
    edit(defs / "dev.yaml", "sku: premium", "sku: premuim")
    edit(defs / "staging.yaml", VNET.replace("10.10", "10.20"), VNET)
    found = problems_of(defs)
    line = line_of(defs / "staging.yaml", "cidr: 10.10")
    assert any(p.startswith(f"environments/staging.yaml:{line}: workspace.vnet.cidr: 10.10.0.0/16 overlaps dev's VNet") for p in found)
    assert len(found) == 2, found


def test_ipv6_in_a_broken_file_next_to_ipv4_does_not_crash(defs):
    edit(defs / "dev.yaml", VNET, "cidr: fd00::/8\n    public_subnet: fd00::/64\n    private_subnet: fd00:0:0:1::/64")
    found = problems_of(defs)
    assert len(found) == 3 and all("is IPv6; VNet injection needs IPv4 CIDRs" in p for p in found), found


def test_examples_still_load(root):
    assert load_environments(root / "environments").names == ["dev", "staging", "prod"]
