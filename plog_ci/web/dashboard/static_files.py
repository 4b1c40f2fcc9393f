"""The dashboard's static files: ``GET /static/<name>`` from the ``static/`` folder here.

``static/vendor/uplot/`` holds uPlot (its version, source and hashes are in its
``README.txt``). Only files inside ``static/`` are served, and only those whose
suffix is in ``CONTENT_TYPES``; anything else (a path out of the folder, an
absolute path, a dot-segment or hidden file, a folder, an unknown suffix) is 404.
Responses carry an explicit content type (ES modules need ``text/javascript``;
browsers refuse a module served as anything else under ``nosniff``) and
``Cache-Control: max-age=3600``; ``ETag`` and ``Last-Modified`` let a browser
revalidate with a 304.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, send_from_directory

STATIC_DIR = Path(__file__).with_name("static")
MAX_AGE_S = 3600
# Suffix (lower case, "" for LICENSE and the like) -> Content-Type.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",
}


def content_type(name: str) -> str | None:
    """The Content-Type for the file ``name`` (a relative path), or None: not served."""
    leaf = name.rsplit("/", 1)[-1]
    suffix = Path(leaf).suffix.lower()
    return CONTENT_TYPES.get(suffix)


def _refused(name: str) -> bool:
    """Whether ``name`` is a path this route never serves, whatever the folder holds."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return True
    # Dot segments ("..", ".") and hidden files; safe_join refuses ".." again.
    return any(part == "" or part.startswith(".") for part in name.split("/"))


def static_file(name: str) -> Response:
    """The response for ``GET /static/<name>``; aborts 404 for anything not served."""
    kind = content_type(name)
    if kind is None or _refused(name):
        abort(404)
    # send_from_directory joins safely (werkzeug.security.safe_join) and is 404
    # for a missing file or a folder.
    response = send_from_directory(STATIC_DIR, name, mimetype=kind, max_age=MAX_AGE_S)
    response.headers["Content-Type"] = kind
    # Not "public": behind a dashboard token a shared cache should not keep it.
    response.headers["Cache-Control"] = f"max-age={MAX_AGE_S}"
    return response


def register(bp: Blueprint) -> None:
    """Add ``GET /static/<path:name>`` (and HEAD) to the dashboard's blueprint."""
    bp.add_url_rule("/static/<path:name>", "static_file", static_file, methods=["GET"])
