"""Scaffolding: new environments and models written as text into the definitions, so they pass `check` at once.

`new environment` (environment.py) copies an environment's file and makes every value that must belong to one
environment unique; `new model` (model.py) adds a model to every environment file and writes its stub module;
files.py writes all of it or nothing; deploy_block.py renders the README's deploy commands.
"""

from __future__ import annotations


class ScaffoldError(Exception):
    """A refusal before anything is written; `kind` names its exit code (cli/exit_codes.py)."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)
