"""OpenAPI documents for tests: the copied specs in tests/data/openapi, and specs from dicts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

from plog_ci.openapi.model import Spec
from testing.paths import OPENAPI_DATA, REAL_SPECS


def load_any_spec(path: Path) -> Spec:
    """The spec at ``path`` through the safe loader ($refs confined to the data folder)."""
    from plog_ci.openapi.load import load_spec_file

    root = OPENAPI_DATA if OPENAPI_DATA.resolve() in path.resolve().parents else None
    return load_spec_file(path, root=root)


def spec_files() -> list[Path]:
    """Every OpenAPI document in tests/data/openapi (component files and Postman excluded)."""
    out = []
    for path in sorted(OPENAPI_DATA.rglob("*")):
        if path.suffix not in (".yaml", ".yml", ".json") or "postman" in path.name:
            continue
        head = path.read_text(encoding="utf-8")[:400]
        if "openapi" in head or "swagger" in head:
            out.append(path)
    return out


def spec_from_dict(doc: dict[str, Any]) -> Spec:
    from plog_ci.openapi.load import load_spec_bytes

    return load_spec_bytes(json.dumps(doc).encode(), "test-spec.json")


def real_spec(name: str, folder: Path) -> Path:
    """A real spec from tests/data/specs (``NAME.gz`` there), decompressed into ``folder``."""
    out = folder / name
    if not out.exists():
        out.write_bytes(gzip.decompress((REAL_SPECS / f"{name}.gz").read_bytes()))
    return out
