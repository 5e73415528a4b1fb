"""The entry points leave without the interpreter's teardown (cli/process_exit.py), and nothing a user can see
changes: the exit code, every byte written to a pipe, the atexit handlers, a thread still at work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from lakegate.cli.process_exit import exit_now\n" + code],
                          capture_output=True, text=True, timeout=60)


def test_the_code_the_output_and_the_atexit_handlers_survive(tmp_path):
    marker = tmp_path / "atexit"
    done = _run(f"import atexit, sys\natexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
                "sys.stdout.write('x' * 200000)\nsys.stderr.write('said')\nexit_now(3)")
    assert (done.returncode, len(done.stdout), done.stderr) == (3, 200000, "said")
    assert marker.read_text() == "ran"


def test_codes_are_what_sys_exit_would_give():
    assert _run("exit_now(None)").returncode == 0
    assert _run("exit_now(64)").returncode == 64
    refused = _run("exit_now('no such thing')")
    assert (refused.returncode, refused.stderr.strip()) == (1, "no such thing")


def test_a_thread_still_at_work_is_waited_for(tmp_path):
    marker = tmp_path / "thread"
    done = _run(f"import threading, time\n"
                f"threading.Thread(target=lambda: (time.sleep(0.5), open({str(marker)!r}, 'w').write('done'))).start()\n"
                "exit_now(5)")
    assert done.returncode == 5 and marker.read_text() == "done"


def test_main_py_keeps_its_exit_codes_and_its_whole_output(tmp_path):
    usage = subprocess.run([sys.executable, str(ROOT / "main.py"), "no-such-command"], capture_output=True, text=True,
                           timeout=120, cwd=tmp_path)
    assert usage.returncode == 64 and "invalid choice" in usage.stderr
    listed = subprocess.run([sys.executable, "-m", "lakegate", "--help"], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout.startswith("usage: lakegate")
