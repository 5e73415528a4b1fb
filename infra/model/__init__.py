"""The typed environment model: YAML in environments/ loads into these classes (see infra/loader.py)."""

from .environment import Environment, Environments
from .grants import Grant, Securable

__all__ = ["Environment", "Environments", "Grant", "Securable"]
