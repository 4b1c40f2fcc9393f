"""The dashboard's static files (filled in by the static-files work of issue 18)."""

from __future__ import annotations

from flask import Blueprint


def register(bp: Blueprint) -> None:
    """Add the static routes to the dashboard's blueprint."""
