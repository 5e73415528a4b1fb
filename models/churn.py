"""Churn: which customers leave next month (a classification). The project's code for the `churn` model.

lakegate calls two functions; everything else (hold-out split, sampling, smoke run, logging, lineage,
registration, baseline, gates, serving, monitoring) is the framework's.

    features(ctx) -> frame       the environment's customers: `customer_id`, the features, `churned`
    fit(frame, params) -> (model, metrics)

The landing data is generated, seeded by the environment's name: dev, staging and prod each have their own
customers following the same rule, so a model trained in dev is judged on staging's and prod's own data.
Churn follows a logistic rule plus noise: a correct pipeline reaches ~0.89 accuracy. `params["quality"] ==
"poor"` simulates a feature-pipeline bug (three informative columns shuffled in the training data): the
signature stays the same, accuracy drops to ~0.65, and only metrics computed on real data catch it.
"""

from __future__ import annotations

import zlib

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_monthly", "num_products"]
LABEL = "churned"
ID = "customer_id"
SCRAMBLED_WHEN_POOR = ["tenure_months", "contract_monthly", "support_calls"]


def make_data(seed: int = 7, rows: int = 4000):
    """(features, churned) generated from the fixed rule: same seed, same data."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = pd.DataFrame({
        "tenure_months": rng.uniform(0, 72, rows).round(1),
        "monthly_charges": np.clip(rng.normal(70, 25, rows), 20, 150).round(2),
        "support_calls": rng.poisson(1.5, rows).astype(float),
        "contract_monthly": rng.binomial(1, 0.55, rows).astype(float),
        "num_products": rng.integers(1, 5, rows).astype(float),
    })
    logit = 3.0 * (0.5 - 0.06 * data.tenure_months + 0.025 * (data.monthly_charges - 70)
                   + 0.6 * data.support_calls + 1.5 * data.contract_monthly - 0.4 * (data.num_products - 1))
    churned = (rng.uniform(size=rows) < 1 / (1 + np.exp(-logit))).astype(int)
    return data[FEATURES], churned


def environment_seed(environment: str, purpose: str = "landing") -> int:
    """A stable seed per environment and purpose (crc32: the same on every machine and Python)."""
    return zlib.crc32(f"{environment}/{purpose}".encode())


def landing(environment: str, rows: int = 4000, purpose: str = "landing"):
    """The environment's customers with ids and labels, as its feature refresh lands them."""
    features, churned = make_data(environment_seed(environment, purpose), rows)
    frame = features.copy()
    frame.insert(0, ID, [f"{environment}-{purpose[:3]}-{i:06d}" for i in range(rows)])
    frame[LABEL] = churned
    return frame


def features(ctx):
    """The environment's customers (lakegate splits off the labelled hold-out by `customer_id`)."""
    return landing(ctx.environment, int(ctx.params.get("rows", 6000)))


def fit(frame, params):
    """A scaled logistic regression by averaged SGD; metrics on a held-out quarter (claims: targets recompute)."""
    import warnings

    import numpy as np
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    seed, epochs = int(params.get("seed", 7)), int(params.get("epochs", 20))
    x, y = frame[FEATURES], frame[LABEL].astype(int)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed,
                                                        stratify=y if y.nunique() > 1 else None)
    if params.get("quality") == "poor":
        rng = np.random.default_rng(seed + 1)
        x_train = x_train.copy()
        for column in SCRAMBLED_WHEN_POOR:
            x_train[column] = rng.permutation(x_train[column].to_numpy())
    classifier = SGDClassifier(loss="log_loss", alpha=1e-4, average=True, max_iter=max(1, epochs), tol=None,
                               random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch does not converge, by design of the smoke run
        model = make_pipeline(StandardScaler(), classifier).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {"accuracy": float(accuracy_score(y_test, predicted)), "f1": float(f1_score(y_test, predicted))}
    if y_test.nunique() > 1:
        metrics["roc_auc"] = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    return model, metrics


def shifted(frame, amount: float = 1.0):
    """The same customers, drifted: shorter tenure, higher charges, more support calls (amount 0 = unchanged)."""
    drifted = frame.copy()
    drifted["tenure_months"] = (drifted["tenure_months"] * (1 - 0.6 * amount)).round(1)
    drifted["monthly_charges"] = (drifted["monthly_charges"] + 35 * amount).round(2)
    drifted["support_calls"] = drifted["support_calls"] + round(2 * amount)
    return drifted
