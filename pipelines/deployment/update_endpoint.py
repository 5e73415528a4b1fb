"""Deployment: point the environment's serving endpoint at the new champion, then ask it one question.

Job `deploy` (task `update_endpoint`), started when `champion` moves (MODEL_ALIAS_SET), as the environment's
principal, for `endpoint`:
- on Databricks: the endpoint Terraform created serves nothing until the first champion; the first
  deployment writes its config from the YAML (the job parameter `serving_endpoints`: served entity = the
  champion version, workload size and type, scale to zero, 100 % of the traffic), later ones move the version
  (promotion/databricks/serving.py). Then it waits for the rollout and queries the endpoint with the version's
  input example (stub-tested only: no workspace where this was built);
- locally: the endpoint is `python main.py serve`, which follows the alias itself; this task waits until the
  running endpoint serves the champion and queries it the same way (or says that none is running).
"""

if __name__ == "__main__" and not __package__:  # run as a file: a Databricks python_file task, or by hand
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "lakegate" / "__init__.py").is_file()), _here)))

import json
import time

from lakegate.pipelines import runtime
from lakegate.pipelines.errors import MissingModel, PipelineError
from lakegate.pipelines.serving.app import request_for as smoke_request


class DeploymentFailed(PipelineError):
    kind = "REGISTRY_UNAVAILABLE"


def deploy_locally(rt, endpoint: str, full_name: str, version: str, timeout: float = 30.0) -> dict:
    import requests

    from lakegate.pipelines.serving.server import read_record

    record = read_record(rt.state_dir, rt.environment, endpoint)
    if record is None:
        rt.log(f"no local endpoint {endpoint} is running (start it: python main.py serve {full_name.split('.')[-1]} "
               f"--env {rt.environment}); it will serve {full_name} v{version}, the champion, when it starts")
        return {"endpoint": endpoint, "served": None, "queried": False}
    base = record["url"].rsplit("/invocations", 1)[0]
    deadline = time.monotonic() + timeout
    served = None
    with requests.Session() as session:
        session.trust_env = False
        while time.monotonic() < deadline:
            entity = session.get(base, timeout=5).json()["config"]["served_entities"][0]
            # The model too, not only the number: staging.ml.churn v3 is not prod.ml.churn v3.
            served = entity["entity_version"] if entity.get("entity_name") == full_name else \
                f"{entity.get('entity_version')} of {entity.get('entity_name')}"
            if served == version:
                break
            time.sleep(0.25)
        if served != version:
            raise DeploymentFailed(f"endpoint {endpoint} at {record['url']} still serves v{served}, not the champion "
                                   f"v{version}, after {timeout:.0f} s")
        example = rt.registry.model_info(full_name, version).get("input_example")
        answer = session.post(record["url"], json=smoke_request(example), timeout=10)
    if answer.status_code != 200:
        raise DeploymentFailed(f"endpoint {endpoint} answered {answer.status_code} to v{version}'s input example: "
                               f"{answer.text[:200]}")
    count = len(answer.json()["predictions"])
    rt.log(f"endpoint {endpoint} at {record['url']} serves {full_name} v{version}; its input example got {count} "
           "prediction(s)")
    return {"endpoint": endpoint, "served": served, "queried": True, "predictions": count}


def deploy_on_databricks(rt, endpoint: str, full_name: str, version: str, settings: dict, timeout: float) -> dict:
    from lakegate.promotion.databricks.serving import query_endpoint, update_serving_endpoint, wait_until_served

    client = rt.registry.client
    update = update_serving_endpoint(client, endpoint, full_name, version, principal=rt.principal, settings=settings)
    rt.log(update.detail)
    wait_until_served(client, endpoint, full_name, version, timeout_seconds=timeout)
    example = rt.registry.model_info(full_name, version).get("input_example")
    predictions = query_endpoint(client, endpoint, smoke_request(example))
    rt.log(f"endpoint {endpoint} serves {full_name} v{version}; its input example got {len(predictions)} prediction(s)")
    return {"endpoint": endpoint, "served": version, "queried": True, "predictions": len(predictions)}


def main(argv: list[str] | None = None) -> int:
    parser = runtime.task_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", required=True, help="serving endpoint to point at the champion")
    parser.add_argument("--model_alias", default="champion", help="alias the endpoint serves")
    parser.add_argument("--timeout_minutes", type=float, default=30.0, help="how long a rollout may take")
    args = runtime.parse(parser, argv)
    rt = runtime.current(args.environment, args.catalog)
    if not args.model_name:
        raise MissingModel("deployment needs --model_name (the job's model)")
    full_name = rt.model_full_name(args.model_name)
    version = rt.resolve_version(full_name, args.model_alias)
    settings = next((e for e in json.loads(args.serving_endpoints or "[]") if e.get("name") == args.endpoint), None)
    if rt.on_databricks:
        result = deploy_on_databricks(rt, args.endpoint, full_name, version, settings or {}, args.timeout_minutes * 60)
    else:
        result = deploy_locally(rt, args.endpoint, full_name, version)
    rt.set_task_value("model_version", version)
    rt.result = result
    return 0


if __name__ == "__main__":
    runtime.run_file(main)
