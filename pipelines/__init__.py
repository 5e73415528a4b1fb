"""The ML code the jobs run: a framework around the project's model code, the same on Databricks and a laptop.

    features/refresh_features.py         feature refresh: the project's features(ctx), split by key into the
                                         feature table and the labelled hold-out
    training/train.py                    training: the project's fit(frame, params); logging with signature and
                                         input example, lineage, registration, baseline; --smoke
    validation/validate.py               validation of a new version on the environment's own hold-out
    deployment/update_endpoint.py        point the model's serving endpoint at the new champion
    inference/score.py                   batch scoring of the feature table (the version's signature columns)
    monitoring/unpack_inference_table.py serving payloads -> inference table
    monitoring/refresh_monitor.py        quality monitors, drift (PSI/KS), the `drift` task value (a notebook)
    serving/                             `python main.py serve`: the champion over REST, requests logged

Support: user_code.py (loads a model's code from the project), parameters.py (typed task parameters, task files),
runtime.py (where a task runs: locally, on the local Spark engine or on Databricks), tables.py (the one table
interface: Delta tables under the state folder, Spark tables), spark_engine.py, spark_delta.py (Delta for Spark
through deltalake) and spark_notebook.py (`run --engine spark`), grants.py (who may read and write which local
table, from infra/access.py), lineage.py, evaluation.py (the task type's metrics on a labelled table, also used
by the target's gates), runner.py (`python main.py run`).
Every task module has `main(argv) -> int`; run as a file (a Databricks `python_file` task) it finds its runtime.
"""
