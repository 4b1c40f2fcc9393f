"""History and compare views (filled in by the history work of issue 18)."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint


def register(bp: Blueprint, home: Path) -> None:
    """Add the history and compare routes to the dashboard's blueprint."""
