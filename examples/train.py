"""Train the churn example in dev and register it as `dev.ml.churn`, as dev's service principal.

    python examples/train.py                      # good model, registered in the local registry
    python examples/train.py --quality poor       # a deliberately worse model (a gate must refuse it)
    python examples/train.py --json               # machine-readable result

A thin script over the training pipeline, `pipelines/training/train.py` (what the `train` job runs on
Databricks and `python main.py run train --env dev` runs locally); it is `python main.py train churn`. Nothing of
lakegate imports from examples/.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from lakegate.cli.app import main as cli

    return cli(["train", "churn", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
