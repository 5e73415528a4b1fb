"""`python -m lakegate`: the same as the `lakegate` command (no arguments: synthesize, the cdktf convention)."""

from lakegate.cli.app import run

run()
