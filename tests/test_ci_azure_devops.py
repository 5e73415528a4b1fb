"""The generated azure-pipelines.yml against the Azure Pipelines YAML schema, and its required structure.

The schema is Microsoft's own (service-schema.json of microsoft/azure-pipelines-vscode, what the editor
validates pipelines with), trimmed to the two tasks the pipeline uses: tests/snapshots/ci/
azure-pipelines.schema.json says where it comes from. `validate` below implements the JSON-schema keywords
that file uses ($ref, type, properties, additionalProperties, required, anyOf, oneOf, items, enum, pattern,
patternProperties, minProperties) plus its two extensions (`firstProperty`: which key a mapping must start
with; `ignoreCase`). As in Azure DevOps, every scalar is text: `true` is a valid string and a valid boolean.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lakegate.ci import azure_devops
from lakegate.ci.plan import build_plan

SCHEMA = json.loads((Path(__file__).parent / "snapshots" / "ci" / "azure-pipelines.schema.json").read_text())
BOOLEAN = re.compile(r"(?i)true|false|y|n|yes|no|on|off")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMA["definitions"][schema["$ref"].split("/")[-1]]
    return schema


def _type_ok(value, kind: str) -> bool:
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if not isinstance(value, str):
        return False
    if kind == "boolean":
        return bool(BOOLEAN.fullmatch(value))
    if kind in ("number", "integer"):
        return bool(NUMBER.fullmatch(value))
    return kind == "string"


def validate(value, schema: dict, path: str = "$") -> list[str]:
    """Every violation, as `path: what`; [] when `value` conforms."""
    schema = _resolve(schema)
    problems: list[str] = []
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_type_ok(value, k) for k in kinds):
            return [f"{path}: expected {'/'.join(kinds)}, got {type(value).__name__}"]
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            results = [validate(value, option, path) for option in schema[keyword]]
            passing = sum(1 for r in results if not r)
            if passing == 0:
                best = min(results, key=len)
                problems.append(f"{path}: matches none of {keyword} (closest: {'; '.join(best[:3])})")
            elif keyword == "oneOf" and passing > 1:
                problems.append(f"{path}: matches {passing} of oneOf")
    flags = re.IGNORECASE if schema.get("ignoreCase") in ("value", "all") else 0
    if "enum" in schema:
        if not isinstance(value, str) or not any(re.fullmatch(re.escape(e), value, flags) for e in schema["enum"]):
            problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value, flags):
        problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, dict):
        problems += _mapping(value, schema, path)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            problems += validate(item, schema["items"], f"{path}[{index}]")
    return problems


def _mapping(value: dict, schema: dict, path: str) -> list[str]:
    problems = []
    properties = schema.get("properties", {})
    lowered = {k.lower(): k for k in properties}
    if "firstProperty" in schema and value and next(iter(value)) not in schema["firstProperty"]:
        problems.append(f"{path}: must start with {schema['firstProperty']}, starts with {next(iter(value))!r}")
    for required in schema.get("required", []):
        if required not in value:
            problems.append(f"{path}: {required!r} is required")
    if len(value) < schema.get("minProperties", 0):
        problems.append(f"{path}: needs at least {schema['minProperties']} properties")
    for key, item in value.items():
        name = key if key in properties else lowered.get(str(key).lower())
        if name is not None and (name == key or _resolve(properties[name]).get("ignoreCase") in ("key", "all")):
            problems += validate(item, properties[name], f"{path}.{key}")
            continue
        pattern = next((p for p in schema.get("patternProperties", {}) if re.search(p, str(key))), None)
        if pattern is not None:
            problems += validate(item, schema["patternProperties"][pattern], f"{path}.{key}")
        elif schema.get("additionalProperties") is False:
            problems.append(f"{path}: unknown property {key!r}")
        elif isinstance(schema.get("additionalProperties"), dict):
            problems += validate(item, schema["additionalProperties"], f"{path}.{key}")
    return problems


def as_azure_devops_reads_it(text: str):
    return yaml.load(text, Loader=yaml.BaseLoader)   # no type resolution: every scalar is text


@pytest.fixture(scope="module")
def pipeline(envs):
    return azure_devops.render(build_plan(envs, "azure-devops"))[azure_devops.PIPELINE_FILE]


def test_the_pipeline_conforms_to_the_azure_pipelines_schema(pipeline):
    assert validate(as_azure_devops_reads_it(pipeline), SCHEMA) == []


def test_the_validator_catches_what_azure_devops_refuses(pipeline):
    document = as_azure_devops_reads_it(pipeline)
    assert validate({"trigger": {"branches": {"include": ["main"]}}}, SCHEMA)   # no stages
    stage = document["stages"][1]
    stage["dependOn"] = stage.pop("dependsOn")
    step = stage["jobs"][-1]["strategy"]["runOnce"]["deploy"]["steps"][-1]
    step["inputs"]["azureSubscriptions"] = step["inputs"].pop("azureSubscription")
    document["stages"][0]["jobs"][0]["steps"][1]["task"] = "UsePython@9"
    problems = "\n".join(validate(document, SCHEMA))
    assert "unknown property 'dependOn'" in problems
    assert "azureSubscriptions" in problems or "matches none of anyOf" in problems
    assert "UsePython@9" in problems or "matches none" in problems


def test_stages_jobs_environments_and_conditions(pipeline, envs):
    document = yaml.safe_load(pipeline)
    assert set(document) == {"trigger", "pr", "pool", "stages"}
    assert document["trigger"] == {"branches": {"include": ["main"]}, "tags": {"include": ["*"]}}
    stages = {s["stage"]: s for s in document["stages"]}
    assert list(stages) == ["pull_request", "deploy_dev", "deploy_staging", "deploy_prod"]   # promotion order

    pr = stages["pull_request"]
    assert pr["condition"] == "eq(variables['Build.Reason'], 'PullRequest')" and pr["dependsOn"] == []
    assert [j.get("job") for j in pr["jobs"]] == ["validate"] and "environment" not in pr["jobs"][0]

    push = "eq(variables['Build.SourceBranch'], 'refs/heads/main')"
    not_pr = "ne(variables['Build.Reason'], 'PullRequest')"
    assert stages["deploy_dev"]["dependsOn"] == [] and stages["deploy_dev"]["condition"] == f"and({not_pr}, {push})"
    assert stages["deploy_staging"]["dependsOn"] == "deploy_dev"       # staging never runs ahead of dev
    assert stages["deploy_staging"]["condition"] == f"and(succeeded(), {not_pr}, {push})"
    assert stages["deploy_prod"]["condition"] == (f"and({not_pr}, startsWith(variables['Build.SourceBranch'], "
                                                  "'refs/tags/'))")
    for env in envs:
        stage = stages[f"deploy_{env.name}"]
        *planned, job = stage["jobs"]
        assert job["deployment"] == "deploy" and job["environment"] == env.name   # approvals & checks live there
        assert stage["lockBehavior"] == "sequential"
        steps = job["strategy"]["runOnce"]["deploy"]["steps"]
        assert (steps[0]["checkout"], steps[0]["persistCredentials"]) == ("self", False)   # not automatic in deployments
        assert steps[0]["fetchDepth"] == 0                                 # the lineage gate reads the history
        if env.state.backend == "azurerm":
            # The plan is a plain job (it only reads, no approval); the deployment applies what it saved.
            (plan,) = planned
            assert plan["job"] == "plan" and "environment" not in plan and job["dependsOn"] == "plan"
            assert {"publish": "$(Agent.TempDirectory)/cdktf.out/stacks", "artifact": f"plan-{env.name}"}.items() \
                <= next(s for s in plan["steps"] if "publish" in s).items()
            assert next(s for s in steps if "download" in s)["artifact"] == f"plan-{env.name}"
            scripts = [s["inputs"]["inlineScript"] for s in steps if "inputs" in s and "inlineScript" in s["inputs"]]
            applies = [line for s in scripts for line in s.splitlines() if " apply " in line]
            assert [line.split("stacks/")[1] for line in applies] == [
                f"{env.name}-azure\" apply -input=false tfplan", f"{env.name}-databricks\" apply -input=false tfplan"]
            steps = plan["steps"] + steps
        else:
            assert planned == []
        identity_steps = [s for s in steps if "task" in s and s["task"].startswith("AzureCLI@")]
        assert identity_steps and {s["inputs"]["azureSubscription"] for s in identity_steps} == {
            env.principals.service_principal.ci_oidc.azure_devops.service_connection}
        for step in identity_steps:
            assert step["task"] == "AzureCLI@2" and step["inputs"]["scriptType"] == "bash"
            assert step["env"]["ARM_USE_OIDC"] == "true" and step["env"]["ARM_USE_CLI"] == "false"
            assert step["env"]["SYSTEM_ACCESSTOKEN"] == "$(System.AccessToken)"
            assert step["env"]["ARM_TENANT_ID"] == env.azure.tenant_id
        promotes = any("main.py promote" in s["inputs"]["inlineScript"] or "ci promote" in s["inputs"]["inlineScript"]
                       for s in identity_steps)
        assert ("variables" in stage) == promotes
        if promotes:
            assert stage["variables"] == [{"group": f"lakegate-{env.name}"}]
            assert identity_steps[-1]["condition"] == "always()" and "ci audit push" in identity_steps[-1]["inputs"]["inlineScript"]
    prod = stages["deploy_prod"]["jobs"][-1]["strategy"]["runOnce"]["deploy"]["steps"]
    assert any("ci promote churn --to prod --approval azure-devops --registry databricks" in s.get("inputs", {})
               .get("inlineScript", "") for s in prod)


def test_no_secret_in_the_pipeline(pipeline):
    assert "secret" not in pipeline.lower().replace("no secret", "")
    assert "$(System.AccessToken)" in pipeline      # the job's own short-lived token, mapped explicitly
