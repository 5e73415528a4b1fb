"""The ML code the jobs run: one module per job task, the same on Databricks and on a laptop.

    features/refresh_churn_features.py   feature refresh: feature table + the labelled validation hold-out
    training/train_churn.py              training: log, register (lineage tags), baseline table; --smoke
    validation/validate_churn.py         validation of a new version on the environment's own hold-out
    deployment/update_endpoint.py        point the serving endpoint at the new champion
    inference/score_churn.py             batch scoring of the feature table into the predictions table
    monitoring/unpack_inference_table.py serving payloads -> inference table
    monitoring/refresh_monitor.py        quality monitors, drift (PSI/KS), the `drift` task value (a notebook)
    serving/                             `python main.py serve`: the champion over REST, requests logged

Support: runtime.py (where a task runs: the local runtime or Databricks), tables.py (the one table interface:
Delta tables under the state folder locally, Spark tables on Databricks), grants.py (who may read and write
which local table, from infra/access.py), data.py (the deterministic churn data), evaluation.py (metrics on a
labelled table, also used by the target's gates), runner.py (`python main.py run JOB --env ENV`).
Every task module has `main(argv) -> int`; run as a file (a Databricks `python_file` task, or
`python pipelines/<step>/<task>.py --environment=dev`) it finds its runtime itself.
"""
