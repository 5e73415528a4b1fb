"""serving_smoke: the candidate, served over HTTP by the same layer `serve` runs, answers its input example."""

from __future__ import annotations

import time

from lakegate.infra.model.promotion import ServingSmokeGate

from .base import GateContext, GateResult

TYPE = "serving_smoke"
MESSAGE = "the candidate served over HTTP (MLflow's scoring server, as `serve` runs it) answers its input example " \
          "with one prediction per row and refuses a malformed request with a clean 4xx"
RATIONALE = ("A model that predicts in-process can still fail behind the endpoint: the request is parsed against "
             "its signature and the answer serialised to JSON. Serving the very files that will become champion on "
             "a loopback port and calling it as a consumer would catches that before any consumer does.")


def check(gate: ServingSmokeGate, ctx: GateContext) -> GateResult:
    import requests

    from lakegate.pipelines.serving.app import request_for
    from lakegate.pipelines.serving.server import serving

    example = ctx.info(ctx.candidate).get("input_example")
    if example is None:
        return GateResult(gate.gate_id, False, "the candidate has no logged input example to send", {})
    request = request_for(example)
    rows = len(request.get("dataframe_split", {}).get("data") or request.get("dataframe_records") or [])
    with serving(ctx.model(ctx.candidate), ctx.candidate.name, ctx.candidate.version) as url, requests.Session() as http:
        http.trust_env = False
        started = time.perf_counter()
        answer = http.post(url, json=request, timeout=30)
        millis = (time.perf_counter() - started) * 1000
        malformed = http.post(url, data=b"{", headers={"Content-Type": "application/json"}, timeout=30)
    details = {"status": answer.status_code, "ms": round(millis, 1), "rows": rows, "malformed_status": malformed.status_code}
    if answer.status_code != 200:
        return GateResult(gate.gate_id, False, f"the endpoint answered {answer.status_code} to the input example: "
                          f"{answer.text[:150]}", details)
    predictions = answer.json().get("predictions")
    details["predictions"] = len(predictions or [])
    if not isinstance(predictions, list) or len(predictions) != rows:
        return GateResult(gate.gate_id, False, f"{details['predictions']} prediction(s) for {rows} input row(s) over HTTP",
                          details)
    if not 400 <= malformed.status_code < 500 or "Traceback" in malformed.text:
        return GateResult(gate.gate_id, False, f"a malformed request got {malformed.status_code}, not a clean 4xx", details)
    return GateResult(gate.gate_id, True, f"answered its input example over HTTP ({rows} prediction(s), {millis:.0f} ms) "
                      f"and refused a malformed request with {malformed.status_code}", details)
