"""One real local registry for the session's lifecycle tests (test_lifecycle.py, test_target_gates.py): it takes
~20 s to start and provision, so the modules share it (each uses its own models). Closed at the session's end."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

from lakegate.infra.loader import load_environments
from lakegate.pipelines.runner import run_job
from lakegate.pipelines.tables import LocalTables
from lakegate.promotion.api import approve, promote
from lakegate.promotion.local_access import derive_local_plan

from .helpers import declare_models, copy_examples, edit
from .local_registry_fixtures import new_ssh_key, running_local_registry, set_approval

APPROVER = "head.of.ml@contoso.com"
MODELS = ["churn", "forged", "closed", "copied"]     # churn: test_lifecycle; the others: test_target_gates
_shared: "World | None" = None


@dataclass
class World:
    folder: Path
    envs: object
    registry: object
    key: Path
    ready: set = field(default_factory=set)     # what a module has set up already

    @property
    def state(self) -> Path:
        return self.registry.state_dir

    def adapter(self, env: str):
        return self.registry.adapter(self.envs[env].service_principal)

    def factory(self, env: str):
        return self.adapter(env)

    def tables(self, env: str) -> LocalTables:
        return LocalTables(self.state / "lakehouse", self.envs, self.envs[env].service_principal, env)

    def run(self, env: str, job: str, **params):
        result = run_job(self.envs, env, job, state_dir=self.state, echo=False,
                         overrides={k: str(v) for k, v in params.items()})
        assert result.error is None, result.error
        return result

    def cli(self, capsys, *args) -> tuple[int, str, str]:
        from lakegate.cli.app import main

        code = main([*args, "--environments", str(self.folder), "--state-dir", str(self.state)])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def promote(self, env: str, version: str | None = None):
        return promote(self.envs, "churn", env, adapter_factory=self.factory, audit_dir=self.state / "audit",
                       version=version, alias=None if version else "champion")

    def approve(self, version: str):
        return approve(self.envs, "churn", "prod", version, adapter_factory=self.factory,
                       audit_dir=self.state / "audit", key=self.key)


def shared_world(request, tmp_path_factory) -> World:
    """The examples (every catalog holding MODELS, a throwaway key enrolled for prod's approver) on one registry."""
    global _shared
    if _shared is None:
        folder = copy_examples(tmp_path_factory.mktemp("lifecycle-environments"))
        declare_models(folder, MODELS)
        key, public = new_ssh_key(tmp_path_factory.mktemp("lifecycle-keys"), "head-of-ml")
        set_approval(folder, "prod", approvers=["ml-approvers"], signers=[{"identity": APPROVER, "key": public}])
        envs = load_environments(folder)
        stack = contextlib.ExitStack()
        registry = stack.enter_context(running_local_registry(tmp_path_factory.mktemp("lifecycle") / "state",
                                                              derive_local_plan(envs)))

        def close() -> None:
            global _shared
            _shared = None
            stack.close()

        request.config.add_cleanup(close)
        _shared = World(folder, envs, registry, key)
    return _shared
