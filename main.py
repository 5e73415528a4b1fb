#!/usr/bin/env python3
"""lakegate: `python main.py` synthesizes every environment (what `cdktf synth` runs); see --help."""

from lakegate.cli.app import run

if __name__ == "__main__":
    run()
