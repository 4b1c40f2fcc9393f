"""The state directory: results database, reports, queue, spool."""

from __future__ import annotations

import os
from pathlib import Path


def state_dir(override: Path | None = None) -> Path:
    """``override``, else ``$PLOG_HOME``, else ``~/.local/share/plog`` (created)."""
    if override is not None:
        path = override
    elif os.environ.get("PLOG_HOME"):
        path = Path(os.environ["PLOG_HOME"])
    else:
        data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(data_home) / "plog"
    path.mkdir(parents=True, exist_ok=True)
    return path
