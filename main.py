#!/usr/bin/env python3
"""lakegate: `python main.py` synthesizes every environment (what `cdktf synth` runs); see --help."""

import sys

from lakegate.cli.app import main

if __name__ == "__main__":
    sys.exit(main())
