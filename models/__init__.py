"""The project's own model code: one module per model, named in environments/*.yaml (`models.<name>.code`).

lakegate imports each by its file path (never as this package), calls `features(ctx)` in the model's
feature-refresh job and `fit(frame, params)` in its train job, and does everything else itself: the hold-out
split, sampling and the smoke run, MLflow logging with signature and input example, lineage, registration,
the baseline, validation, batch scoring, serving and drift monitoring.
"""
