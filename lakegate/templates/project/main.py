#!/usr/bin/env python3
"""The project's entry point (cdktf.json's app, and what CI runs): `python main.py` synthesizes; see --help."""

import sys

from lakegate.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
