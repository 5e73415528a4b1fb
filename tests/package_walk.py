"""What a platform team does with the wheel: install it into a fresh virtualenv, `lakegate init` a project, then in
that project `check`, `synth`, a local promotion walk and the project's own test. Used by test_package_py311.py and
test_package_py313.py (two files: xdist runs the two interpreters side by side).

The fresh virtualenv gets lakegate from the wheel alone (`pip install --no-deps`); its dependencies come from an
already installed environment of the same Python (a `.pth` line), so the test pays for no download and no build:
what it proves is the wheel's own content (one top-level package, templates and the example project inside, the
console script, paths relative to the project), not pip's resolver (requirements.lock pins that).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_wheel(tmp_path_factory) -> Path:
    """One wheel per test run, whichever walk asks first (xdist runs the two walks on two workers: the first
    builds under a lock in the run's shared temporary folder, the other takes it)."""
    import fcntl

    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if base.name.startswith("popen-gw") else base) / "lakegate-wheel"  # xdist's worker folders
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        built = list(shared.glob("lakegate-*.whl"))
        return built[0] if built else build_wheel(shared)


def build_wheel(out: Path) -> Path:
    """Built from a copy of the checkout's files (setuptools writes build/ beside its sources)."""
    import shutil

    source = out / "source"
    listed = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-co", "--exclude-standard", "-z"], check=True,
                            capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "-w", str(out), str(source)], check=True, capture_output=True, text=True, timeout=600)
    (wheel,) = out.glob("lakegate-*.whl")
    return wheel


def top_level_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist()}


def site_packages(python: str) -> str:
    return subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()


def fresh_venv(base_python: str, deps_python: str, wheel: Path, where: Path) -> Path:
    """A new virtualenv of `base_python` with the wheel installed and the dependencies of `deps_python`'s."""
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    python = where / "bin" / "python"
    own = Path(site_packages(str(python)))
    (own / "lakegate_test_dependencies.pth").write_text(site_packages(deps_python) + "\n")
    subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--quiet", "--disable-pip-version-check",
                    str(wheel)], check=True, capture_output=True, text=True, timeout=300)
    return where / "bin"


def environment(bin_dir: Path) -> dict[str, str]:
    # Nothing of this checkout may leak in: no PYTHONPATH, a PATH with the new environment first.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LAKEGATE_PROJECT_ROOT", "VIRTUAL_ENV")
           and not k.startswith("LAKEGATE_GIT") and k != "LAKEGATE_LINEAGE_ROOT"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("LAKEGATE_TOOLS", str(ROOT / ".tools"))  # Node for jsii (installed by `make tools`)
    return env


def walk(bin_dir: Path, tmp: Path, *, whole: bool = True) -> dict[str, subprocess.CompletedProcess]:
    """init, then in the project: check, synth, local up, train, feature refresh, promote, the project's test.
    Not `whole`: init, check and the project's test only (what differs between Pythons for the same wheel is its
    install and its package data; the registry walk runs on 3.13 from the wheel and on 3.11 from the checkout)."""
    env = environment(bin_dir)
    results: dict[str, subprocess.CompletedProcess] = {}

    def run(name: str, *argv: str, cwd: Path) -> subprocess.CompletedProcess:
        results[name] = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                                       stdin=subprocess.DEVNULL)
        assert results[name].returncode == 0, f"{name}: {results[name].stdout}\n{results[name].stderr}"
        return results[name]

    lakegate = str(bin_dir / "lakegate")
    run("init", lakegate, "init", "acme-ml", "--repository", "acme/acme-ml", cwd=tmp)
    project = tmp / "acme-ml"
    git = ["git", "-c", "user.email=platform@acme.example", "-c", "user.name=Platform"]
    run("git init", "git", "init", "-q", cwd=project)
    run("git add", "git", "add", "-A", cwd=project)
    run("git commit", *git, "commit", "-qm", "lakegate init", cwd=project)
    run("check", lakegate, "check", cwd=project)
    if whole:
        run("synth", lakegate, "synth", cwd=project)
        state = ["--state-dir", str(tmp / "state")]
        try:
            run("local up", lakegate, "local", "up", *state, cwd=project)
            run("train", lakegate, "train", "churn", "--env", "dev", *state, cwd=project)
            run("refresh", lakegate, "run", "churn-feature-refresh", "--env", "staging", *state, cwd=project)
            run("promote", lakegate, "promote", "churn", "--to", "staging", "--json", *state, cwd=project)
        finally:
            subprocess.run([lakegate, "local", "down", *state], cwd=project, env=env, capture_output=True, timeout=120)
        results["promoted"] = json.loads(results["promote"].stdout)
    run("project test", str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=project)
    return results


def where_lakegate_came_from(bin_dir: Path) -> str:
    return subprocess.run([str(bin_dir / "python"), "-c", "import lakegate, sys; print(lakegate.__file__)"],
                          check=True, capture_output=True, text=True, env=environment(bin_dir), cwd="/").stdout.strip()


