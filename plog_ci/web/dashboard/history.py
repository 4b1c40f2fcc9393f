"""History and compare views (issue 18, item 4).

=================  ==========================================================
``/history``       per operation, one metric across the runs of a repository
                   (and branch), oldest first, as an SVG chart with the
                   change points marked, and as a table; each point links to
                   ``/runs/<id>``. Query: ``repo``, ``branch``, ``operation``
                   (empty: all), ``metric`` (``HISTORY_METRICS``, default
                   p95), ``limit`` (runs, 1..500, default 200). The
                   table of runs is shown under a single operation's chart;
                   with several, each links to its own page (20 tables of
                   500 rows would make a 5 MB page)
``/api/history``   the same as JSON (``HistoryView.to_json``)
``/compare``       ``?a=<base run>&b=<head run>``: per operation, the
                   benchstat-style table of ``plog compare A B``
``/api/compare``   the same as JSON (``CompareView.to_json``)
=================  ==========================================================

A bad query is a 400 and an unknown run a 404, each with a message that says
which parameter or run; the HTML pages render ``dashboard/error.html.j2``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, jsonify, request

from plog_ci.analysis.comparison import HISTORY_METRICS
from plog_ci.errors import PlogError
from plog_ci.templating import render
from plog_ci.web.dashboard.compare_view import (
    CompareView,
    UnknownRun,
    compare_view,
    parse_compare_query,
)
from plog_ci.web.dashboard.history_view import (
    MAX_RUNS,
    HistoryView,
    history_view,
    parse_history_query,
)
from plog_ci.web.dashboard.runs import BadQuery

HTML = "text/html; charset=utf-8"


def _error_page(message: str, status: int) -> Response:
    body = render("dashboard/error.html.j2", message=message)
    return Response(body, status=status, content_type=HTML)


def _error_json(message: str, status: int) -> tuple[Response, int]:
    return jsonify({"error": message}), status


def register(bp: Blueprint, home: Path) -> None:
    """Add the history and compare routes to the dashboard's blueprint."""

    def history() -> HistoryView | str:
        try:
            return history_view(home, parse_history_query(request.args))
        except BadQuery as exc:
            return str(exc)

    def compare() -> CompareView | tuple[str, int]:
        try:
            return compare_view(home, *parse_compare_query(request.args))
        except BadQuery as exc:
            return str(exc), 400
        except UnknownRun as exc:
            return str(exc), 404
        except PlogError as exc:  # the statistics refused the two runs' data
            return str(exc), 400

    @bp.get("/history")
    def history_page() -> Response:
        found = history()
        if isinstance(found, str):
            return _error_page(found, 400)
        body = render(
            "dashboard/history.html.j2",
            view=found,
            metrics=HISTORY_METRICS,
            max_runs=MAX_RUNS,
        )
        return Response(body, content_type=HTML)

    @bp.get("/api/history")
    def history_api() -> tuple[Response, int]:
        found = history()
        if isinstance(found, str):
            return _error_json(found, 400)
        if found.needs_repo:
            return _error_json(
                "query parameter 'repo' is needed: the results store holds runs of "
                f"{len(found.repositories)} repositories",
                400,
            )
        return jsonify(found.to_json()), 200

    @bp.get("/compare")
    def compare_page() -> Response:
        found = compare()
        if isinstance(found, tuple):
            return _error_page(*found)
        return Response(render("dashboard/compare.html.j2", view=found), content_type=HTML)

    @bp.get("/api/compare")
    def compare_api() -> tuple[Response, int]:
        found = compare()
        if isinstance(found, tuple):
            return _error_json(*found)
        return jsonify(found.to_json()), 200
