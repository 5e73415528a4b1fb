#!/usr/bin/env python3
"""The project's entry point (cdktf.json's app, and what CI runs): `python main.py` synthesizes; see --help."""

from lakegate.cli.app import run

if __name__ == "__main__":
    run()
