"""Where the repository's own files are: the root, the example service, the test data."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "petstore"
OPENAPI_DATA = ROOT / "tests" / "data" / "openapi"
WEBHOOK_DATA = ROOT / "tests" / "data" / "webhooks" / "github"
REAL_SPECS = ROOT / "tests" / "data" / "specs"
FIELD_CASES = ROOT / "tests" / "data" / "field-cases"
