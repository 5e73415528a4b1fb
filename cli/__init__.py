"""The lakegate command line (entry point: main.py)."""
