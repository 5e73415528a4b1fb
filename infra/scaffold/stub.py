"""The training module `new model` writes: working `features(ctx)` and `fit(frame, params)` (pipelines/user_code.py)
on generated data, so a new model trains and promotes before its real code exists. Its figures clear the gates
model.py writes (classification: accuracy ~0.9; regression: r2 ~0.96, rmse ~2)."""

from __future__ import annotations

_HEAD = '''"""{name}: {what} (a {task}). The project's code for the `{name}` model, written by `python main.py new model`.

lakegate calls two functions (pipelines/user_code.py); everything else (hold-out split, sampling, smoke run,
logging, lineage, registration, baseline, gates, serving, monitoring) is the framework's.

    features(ctx) -> frame       rows: `{key}`, the feature columns, `{label}`
    fit(frame, params) -> (model, metrics)

The data below is GENERATED (seeded by the environment's name) so the model can be trained and promoted at
once: replace `features` with reading your own tables (`ctx.tables`) and `fit` with your model.
"""

from __future__ import annotations

import zlib

FEATURES = ["feature_1", "feature_2", "feature_3", "feature_4"]
LABEL = "{label}"
ID = "{key}"


def features(ctx):
    import numpy as np
    import pandas as pd

    rows = int(ctx.params.get("rows", 6000))
    rng = np.random.default_rng(zlib.crc32(f"{{ctx.environment}}/{name}".encode()))
    frame = pd.DataFrame({{column: rng.normal(0, 1, rows).round(4) for column in FEATURES}})
{signal}
    frame.insert(0, ID, [f"{{ctx.environment}}-{{i:06d}}" for i in range(rows)])
    return frame


'''

_CLASSIFICATION = '''    score = 4 * frame.feature_1 - 3 * frame.feature_2 + 2 * frame.feature_3
    frame[LABEL] = (rng.uniform(size=rows) < 1 / (1 + np.exp(-score))).astype(int)'''

_REGRESSION = '''    frame[LABEL] = (50 + 8 * frame.feature_1 - 5 * frame.feature_2 + 3 * frame.feature_3
                    + rng.normal(0, 2, rows)).round(3)'''

_FIT_CLASSIFICATION = '''def fit(frame, params):
    """A scaled logistic regression; metrics on a held-out quarter (what the run claims: targets recompute)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    seed = int(params.get("seed", 7))
    x, y = frame[FEATURES], frame[LABEL].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed,
                                                        stratify=y if y.nunique() > 1 else None)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=float(params.get("C", 1.0)), max_iter=1000))
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {"accuracy": float(accuracy_score(y_test, predicted)), "f1": float(f1_score(y_test, predicted))}
    if y_test.nunique() > 1:
        metrics["roc_auc"] = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    return model, metrics
'''

_FIT_REGRESSION = '''def fit(frame, params):
    """A ridge regression on scaled features; metrics on a held-out quarter (what the run claims: targets recompute)."""
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    seed = int(params.get("seed", 7))
    x, y = frame[FEATURES], frame[LABEL].astype(float)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed)
    model = make_pipeline(StandardScaler(), Ridge(alpha=float(params.get("alpha", 1.0)))).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {"rmse": float(mean_squared_error(y_test, predicted) ** 0.5),
               "mae": float(mean_absolute_error(y_test, predicted)), "r2": float(r2_score(y_test, predicted))}
    return model, metrics
'''


def stub_module(name: str, task: str, label: str) -> str:
    classification = task == "classification"
    head = _HEAD.format(name=name, task=task, label=label, key=f"{name}_id",
                        what="which class a row belongs to" if classification else "a number for each row",
                        signal=_CLASSIFICATION if classification else _REGRESSION)
    return head + (_FIT_CLASSIFICATION if classification else _FIT_REGRESSION)
