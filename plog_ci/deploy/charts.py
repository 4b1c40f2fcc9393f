"""Where PLog's own Helm charts are: ``charts/`` of the repository, shipped inside the
package as ``plog_ci.charts`` (setup.cfg maps it, as it maps ``templates/``).

``service_chart_path()`` is the generic chart deploy.target helm installs when plog.yml
names no chart; ``plog_chart_path()`` is PLog's own (serve, worker, reaper).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from plog_ci.errors import InputError

# A source checkout without the package mapping (not installed, or installed before
# charts/ was shipped): the folder beside plog_ci/.
_SOURCE_CHARTS = Path(__file__).resolve().parents[2] / "charts"


def charts_root() -> Path:
    """The folder that holds the charts. Raises InputError when neither the installed
    package nor a source checkout has it."""
    try:
        root = Path(str(resources.files("plog_ci.charts")))
    except ModuleNotFoundError:
        root = _SOURCE_CHARTS
    if not (root / "service" / "Chart.yaml").is_file():
        raise InputError(
            f"PLog's Helm charts are not installed (looked in {root})",
            hint="reinstall plog-ci; its package ships charts/ as plog_ci.charts",
        )
    return root


def service_chart_path() -> Path:
    """``charts/service``: PLog's generic chart for a service under test (a folder with
    Chart.yaml, values.yaml, values.schema.json, templates/). Raises InputError when
    missing."""
    return charts_root() / "service"


def plog_chart_path() -> Path:
    """``charts/plog``: PLog's own chart (a folder). Raises InputError when missing."""
    path = charts_root() / "plog"
    if not (path / "Chart.yaml").is_file():
        raise InputError(f"PLog's own chart is missing from {path.parent}")
    return path
