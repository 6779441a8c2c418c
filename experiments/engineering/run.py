"""Moved: run ``gradeng experiment engineering [--quick] [--out DIR]`` (see docs/experiments/engineering.md)."""
