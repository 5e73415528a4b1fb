"""Unpack the serving payload table into the inference table: one row per scored input, with its prediction.

Job `monitoring` (task `unpack_inference_table`), as the environment's principal. `payload_table` is what the
endpoint logs, one row per request: on Databricks the AI Gateway inference table (`<endpoint>_payload`), locally
what `python main.py serve` writes, in the same shape (`databricks_request_id`, `timestamp_ms`, `status_code`,
`execution_duration_ms`, `request`, `response` as JSON text, `request_metadata` with the model version). Each
successful request since the last unpacked one becomes rows of `inference_table`: the input columns, the
`prediction`, the `model_version`, the `timestamp` and the request id (and an empty label column, for ground
truth that arrives later): what the quality monitor and the drift computation read.
"""

if __name__ == "__main__" and not __package__:  # run as a file: a Databricks python_file task, or by hand
    import sys as _sys
    from pathlib import Path as _Path

    _here = _Path(globals().get("__file__", _Path.cwd() / "task")).resolve().parent
    _sys.path.insert(0, str(next((p for p in (_here, *_here.parents) if (p / "lakegate" / "__init__.py").is_file()), _here)))

import json

from lakegate.pipelines import runtime


RESERVED = ("prediction", "model_version", "timestamp", "request_id")


def request_frame(body: str):
    """The input rows of one scoring request (dataframe_split, dataframe_records, instances or inputs)."""
    import pandas as pd

    payload = json.loads(body)
    if isinstance(payload, dict) and "dataframe_split" in payload:
        split = payload["dataframe_split"]
        return pd.DataFrame(split.get("data") or [], columns=split.get("columns"))
    for key in ("dataframe_records", "instances", "inputs"):
        if isinstance(payload, dict) and key in payload:
            records = payload[key]
            return pd.DataFrame(records if isinstance(records, list) else [records])
    raise ValueError("not a scoring request")


def unpack(payload, done: set[str] | frozenset = frozenset(), label: str = ""):
    """The inference rows of the successful requests whose id is not in `done` (None when there are none)."""
    import pandas as pd

    rows = payload[(payload["status_code"] == 200) & ~payload["databricks_request_id"].isin(list(done))]
    frames = []
    for record in rows.itertuples(index=False):
        try:
            inputs = request_frame(record.request)
            predictions = json.loads(record.response)["predictions"]
        except (ValueError, KeyError, TypeError, RecursionError):
            continue  # an answered request we cannot read is skipped, not fatal
        # The columns this job writes are its own, never the client's: MLflow answers a request that also sends
        # `churned` (or `prediction`, `model_version`, ...) and ignores it, so a consumer could forge ground truth.
        inputs = inputs.drop(columns=[c for c in (label, *RESERVED) if c and c in inputs.columns])
        if len(predictions) != len(inputs):
            continue
        metadata = record.request_metadata if isinstance(record.request_metadata, dict) else {}
        inputs["prediction"] = [p if not isinstance(p, dict) else next(iter(p.values())) for p in predictions]
        inputs["model_version"] = str(metadata.get("model_version", ""))
        inputs["timestamp"] = pd.to_datetime(record.timestamp_ms, unit="ms", utc=True)
        inputs["request_id"] = record.databricks_request_id
        frames.append(inputs)
    if not frames:
        return None
    frame = pd.concat(frames, ignore_index=True)
    if label and label not in frame.columns:
        frame[label] = pd.array([None] * len(frame), dtype="Int64")  # ground truth arrives later, if ever
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = runtime.task_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--payload_table", required=True, help="the endpoint's request log")
    parser.add_argument("--inference_table", required=True, help="the unpacked rows")
    parser.add_argument("--label", default="", help="the model's ground-truth column (left empty)")
    args = runtime.parse(parser, argv)
    rt = runtime.current(args.environment, args.catalog)
    tables = rt.tables
    if not tables.exists(args.payload_table):
        rt.log(f"{tables.full_name(args.payload_table)} does not exist yet (nothing was served): nothing to unpack")
        rt.set_task_value("rows", 0)
        return 0
    done: set[str] = set()
    if tables.exists(args.inference_table):
        done = set(tables.to_pandas(tables.read(args.inference_table))["request_id"].dropna().astype(str))
    payload = tables.to_pandas(tables.read(args.payload_table))
    frame = unpack(payload, done, args.label)
    if frame is None:
        rt.log(f"no new request in {tables.full_name(args.payload_table)} since the last unpacking")
        rt.set_task_value("rows", 0)
        return 0
    version = tables.write(args.inference_table, tables.from_pandas(frame), mode="append")
    rt.log(f"unpacked {len(frame)} scored rows from {tables.full_name(args.payload_table)} into "
           f"{tables.full_name(args.inference_table)} (Delta version {version})")
    rt.set_task_value("rows", len(frame))
    return 0


if __name__ == "__main__":
    runtime.run_file(main)
