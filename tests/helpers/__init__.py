"""Shared test helpers (not tests): ``ROOT``, the repository root, for paths and the working folder of commands."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
