"""Drift between a baseline and recent data, per column: population stability index and Kolmogorov-Smirnov.

PSI = sum((current% - baseline%) * ln(current% / baseline%)) over bins of the baseline (deciles of a
continuous column, the values themselves for a column with few distinct values); the rule of thumb reads
< 0.1 stable, 0.1-0.25 moderate, > 0.25 significant. The KS statistic and p-value come from scipy.
The drift of a table is its largest column PSI (features and the prediction), what the monitoring task
publishes as `drift`.
"""

from __future__ import annotations

from dataclasses import dataclass

_EPS = 1e-4
_DISCRETE = 12      # a column with at most this many distinct baseline values is binned by value


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    psi: float
    ks_statistic: float
    ks_pvalue: float
    baseline_count: int
    current_count: int


def psi(baseline, current) -> float:
    import numpy as np

    baseline, current = np.asarray(baseline, dtype=float), np.asarray(current, dtype=float)
    baseline, current = baseline[~np.isnan(baseline)], current[~np.isnan(current)]
    if baseline.size == 0 or current.size == 0:
        return 0.0
    values = np.unique(baseline)
    if values.size <= _DISCRETE:
        edges = np.concatenate(([-np.inf], (values[:-1] + values[1:]) / 2, [np.inf]))
    else:
        inner = np.unique(np.quantile(baseline, np.linspace(0.1, 0.9, 9)))
        edges = np.concatenate(([-np.inf], inner, [np.inf]))
    expected = np.histogram(baseline, edges)[0] / baseline.size
    actual = np.histogram(current, edges)[0] / current.size
    expected, actual = np.clip(expected, _EPS, None), np.clip(actual, _EPS, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def column_drift(baseline, current, columns) -> list[ColumnDrift]:
    from scipy.stats import ks_2samp

    results = []
    for column in columns:
        left = baseline[column].dropna().astype(float)
        right = current[column].dropna().astype(float)
        if left.empty or right.empty:
            continue
        ks = ks_2samp(left, right)
        results.append(ColumnDrift(column, psi(left, right), float(ks.statistic), float(ks.pvalue), len(left), len(right)))
    return results
