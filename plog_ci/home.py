"""The state directory: results database, reports, queue, spool, mirrors.

The one place that says where PLog keeps its state; the queue, the worker, the
hooks and the pipeline all ask here, so they always agree.
"""

from __future__ import annotations

import os
from pathlib import Path


def state_dir(override: Path | None = None, *, create: bool = True) -> Path:
    """``override``, else ``$PLOG_HOME``, else ``$XDG_DATA_HOME/plog``, else
    ``~/.local/share/plog``.

    Created unless ``create`` is false (the queue creates it on first use, where
    a failure sends the job to the spool instead of failing a push).
    """
    if override is not None:
        path = override
    elif os.environ.get("PLOG_HOME"):
        path = Path(os.environ["PLOG_HOME"])
    else:
        data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(data_home) / "plog"
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path
