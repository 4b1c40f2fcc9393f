"""Per-operation data files (``load.overrides[op].data``): CSV or JSON rows.

Rows are embedded in the script as JSON, so the script stays standalone; the
script cycles through them, one row per request. Files must be regular files
inside the repository and small.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from plog_ci.errors import InputError

MAX_BYTES = 1 << 20
MAX_ROWS = 10_000


def load_rows(root: Path, relative: str, where: str) -> list[dict[str, Any]]:
    base = root.resolve()
    path = (root / relative).resolve()
    if base not in path.parents or path.is_symlink() or not path.is_file():
        raise InputError(
            f"{where}: data file {relative!r} is not a regular file inside the repository",
            hint="commit the file and give its path relative to the repository root",
        )
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"{where}: data file {relative!r} is larger than {MAX_BYTES} bytes")
    text = path.read_text(encoding="utf-8", errors="replace")
    rows: list[dict[str, Any]]
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{where}: {relative}: not JSON: {exc}") from None
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError(f"{where}: {relative}: expected a JSON array of objects")
        rows = data
    else:
        rows = [dict(r) for r in csv.DictReader(io.StringIO(text))]
    if not rows:
        raise InputError(f"{where}: data file {relative!r} has no rows")
    if len(rows) > MAX_ROWS:
        raise InputError(f"{where}: data file {relative!r} has over {MAX_ROWS} rows")
    return rows
