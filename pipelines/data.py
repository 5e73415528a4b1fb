"""The churn data every environment's feature refresh lands: generated, deterministic, with a known rule.

Customers with tenure, charges, support calls, contract type and products; churn follows a logistic rule
plus noise, so a correct pipeline reaches ~0.89 accuracy. Each environment gets its own customers (seeded by
the environment's name), the same rule: a model trained in dev is judged on staging's and prod's own data.
`shifted` moves the inputs the way a changed customer base would (drift injection for the monitoring demo).
"""

from __future__ import annotations

import zlib

FEATURES = ["tenure_months", "monthly_charges", "support_calls", "contract_monthly", "num_products"]
LABEL = "churned"
ID = "customer_id"
# The columns a "feature-pipeline bug" scrambles (train --quality poor): the signature stays the same, the
# accuracy drops to ~0.65, and only a metric computed on real data can tell.
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


def shifted(frame, amount: float = 1.0):
    """The same customers, drifted: shorter tenure, higher charges, more support calls (amount 0 = unchanged)."""
    drifted = frame.copy()
    drifted["tenure_months"] = (drifted["tenure_months"] * (1 - 0.6 * amount)).round(1)
    drifted["monthly_charges"] = (drifted["monthly_charges"] + 35 * amount).round(2)
    drifted["support_calls"] = drifted["support_calls"] + round(2 * amount)
    return drifted
