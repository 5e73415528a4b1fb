"""The model stack imported skops first (promotion/model_stack.py) names the same trusted types as skops imported
the way MLflow would (after MLflow, scikit-learn and pandas): the order only makes skops' import-time search cheaper.
A skops, numpy or scipy upgrade that made the names depend on the order fails here."""

from __future__ import annotations

import json
import subprocess
import sys

NAMES = ("import json, skops.io._trusted_types as t\n"
         "print(json.dumps({k: v for k, v in vars(t).items() if k.endswith('_NAMES')}, sort_keys=True))")


def _trusted_names(first: str) -> dict:
    out = subprocess.run([sys.executable, "-c", first + "\n" + NAMES], check=True, capture_output=True, text=True,
                         timeout=300).stdout
    return json.loads(out)


def test_skops_first_names_the_same_trusted_types_as_skops_last():
    # ready() with no warm-up is a no-op; warm_up() twice starts one thread; ready() returns once all is imported.
    first = _trusted_names("import sys, threading\nfrom lakegate.promotion import model_stack\nmodel_stack.ready()\n"
                           "assert 'skops' not in sys.modules\nmodel_stack.warm_up()\nmodel_stack.warm_up()\n"
                           "model_stack.ready()\nassert all(name in sys.modules for name in model_stack.STACK)\n"
                           "assert [t.name for t in threading.enumerate()] == ['MainThread']")
    last = _trusted_names("import mlflow.pyfunc, mlflow.sklearn, sklearn, pandas, deltalake")
    assert first == last
    assert any("sklearn.linear_model._logistic.LogisticRegression" in names for names in first.values())
    assert first["SCIPY_UFUNC_TYPE_NAMES"] and first["NUMPY_UFUNC_TYPE_NAMES"]
