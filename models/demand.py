"""Demand: how many units a store sells tomorrow (a regression). The project's code for the `demand` model.

    features(ctx) -> frame       store-days: `store_day`, the features, `units_sold`
    fit(frame, params) -> (model, metrics)

Generated per environment (seeded by its name), from one rule: demand grows with the store's size and a
promotion, falls with price, peaks at weekends and in mild weather, plus noise. A ridge regression on these
features reaches r2 ~0.8; the targets judge it on rmse, mae and r2 computed on their own hold-out.
"""

from __future__ import annotations

import zlib

FEATURES = ["price", "promotion", "weekend", "temperature", "store_size"]
LABEL = "units_sold"
ID = "store_day"


def features(ctx):
    import numpy as np
    import pandas as pd

    rows = int(ctx.params.get("rows", 6000))
    rng = np.random.default_rng(zlib.crc32(f"{ctx.environment}/demand".encode()))
    frame = pd.DataFrame({
        "price": rng.uniform(2, 12, rows).round(2),
        "promotion": rng.binomial(1, 0.3, rows).astype(float),
        "weekend": rng.binomial(1, 2 / 7, rows).astype(float),
        "temperature": rng.normal(15, 8, rows).round(1),
        "store_size": rng.integers(1, 6, rows).astype(float),
    })
    units = (60 + 18 * frame.store_size - 6 * frame.price + 25 * frame.promotion + 20 * frame.weekend
             - 0.15 * (frame.temperature - 18) ** 2 + rng.normal(0, 12, rows))
    frame.insert(0, ID, [f"{ctx.environment}-{i:06d}" for i in range(rows)])
    frame[LABEL] = units.clip(lower=0).round(1)
    return frame


def fit(frame, params):
    """Ridge regression on scaled features (temperature and its square); metrics on a held-out quarter."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import PolynomialFeatures, StandardScaler

    seed = int(params.get("seed", 7))
    x, y = frame[FEATURES], frame[LABEL].astype(float)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=seed)
    prepare = ColumnTransformer([("temperature", PolynomialFeatures(degree=2, include_bias=False), ["temperature"])],
                                remainder="passthrough")
    model = make_pipeline(prepare, StandardScaler(), Ridge(alpha=float(params.get("alpha", 1.0)))).fit(x_train, y_train)
    predicted = model.predict(x_test)
    metrics = {"rmse": float(mean_squared_error(y_test, predicted) ** 0.5),
               "mae": float(mean_absolute_error(y_test, predicted)), "r2": float(r2_score(y_test, predicted))}
    return model, metrics
