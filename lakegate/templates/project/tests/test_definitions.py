"""The project's own test: its definitions load, pass every guardrail, and its generated files are current."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def lakegate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def test_definitions_pass_check():
    result = lakegate("check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_files_are_current():
    result = lakegate("generate", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
