"""What the demo sends to the models it serves: a row their signature accepts, a request, drifted traffic."""

from __future__ import annotations

import time


class DemoFailed(Exception):
    """A step of the walk that did not end as expected."""


def example_row(runtime, env, name: str) -> dict:
    """One row of the model's feature table, without its key and label: a request its signature accepts."""
    policy = env.policy(name)
    frame = runtime.tables.read(policy.features_table)
    row = frame.drop(columns=[policy.feature_key, policy.label]).iloc[0]
    return {k: (float(v) if hasattr(v, "__float__") else v) for k, v in row.items()}


CHURN_ROW = {"tenure_months": 12.0, "monthly_charges": 95.5, "support_calls": 3.0, "contract_monthly": 1.0,
             "num_products": 1.0}


def ask(url: str, row: dict | None = None) -> dict:
    import requests

    row = row or CHURN_ROW
    started = time.perf_counter()
    with requests.Session() as http:
        http.trust_env = False
        answer = http.post(url, json={"dataframe_records": [row]}, timeout=30)
    if answer.status_code != 200:
        raise DemoFailed(f"{url} answered {answer.status_code}: {answer.text[:200]}")
    return {"version": f"v{answer.headers.get('x-lakegate-model-version')}", "predictions": answer.json()["predictions"],
            "ms": (time.perf_counter() - started) * 1000}


def drifted_traffic(url: str, rows: int = 300, batch: int = 10) -> int:
    import requests

    from lakegate.pipelines import user_code

    data = user_code.load("models/churn.py")
    frame = data.shifted(data.landing("traffic", rows, "requests"))[data.FEATURES]
    with requests.Session() as http:
        http.trust_env = False
        for start in range(0, rows, batch):
            chunk = frame.iloc[start:start + batch]
            answer = http.post(url, json={"dataframe_split": {"columns": list(chunk.columns),
                                                              "data": chunk.values.tolist()}}, timeout=30)
            if answer.status_code != 200:
                raise DemoFailed(f"{url} answered {answer.status_code}: {answer.text[:200]}")
    return rows // batch
