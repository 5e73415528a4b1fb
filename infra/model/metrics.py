"""The metrics a target computes on its own hold-out (pipelines/evaluation.py), per task type, and their direction."""

TASK_METRICS: dict[str, tuple[str, ...]] = {
    "classification": ("accuracy", "f1", "precision", "recall", "roc_auc"),
    "regression": ("rmse", "mae", "r2"),
}
HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "precision": True, "recall": True, "roc_auc": True,
                    "rmse": False, "mae": False, "r2": True}
ALL_METRICS = tuple(metric for metrics in TASK_METRICS.values() for metric in metrics)
