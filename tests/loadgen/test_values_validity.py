"""Issue 16 bar: every generated parameter and request body validates against its schema.

Loads every OpenAPI/Swagger document under tests/data and ../shared/data
(recursively; files that are not such documents, or that the loader refuses on
purpose, are skipped), generates a value for every parameter and every request
body media type exactly as ``plog gen`` does, and validates each with
jsonschema in the spec's dialect (plog_ci.loadgen.conformance). Each failure is
listed with spec, operation, what and JSON pointer.
"""

from __future__ import annotations

from pathlib import Path

from plog_ci.loadgen.conformance import Tally, check_spec
from plog_ci.openapi.errors import SpecError
from plog_ci.openapi.load import load_spec_file

REPO = Path(__file__).resolve().parents[2]
ROOTS = [REPO / "tests" / "data", REPO.parent / "shared" / "data"]
BIG = 1_000_000  # the Stripe/Twilio specs run in bench/gen_validity.py

# Schemas no value can satisfy, with the reason (checked to still fail: if one
# starts validating, drop it from here).
UNSATISFIABLE = {
    (
        "openapi-test1.yaml",
        "query parameter 'token'",
    ): "uuid pattern needs 36 characters, maxLength 30",
    (
        "openapi-test3.yaml",
        "query parameter 'token'",
    ): "uuid pattern needs 36 characters, maxLength 30",
    (
        "openapi-test701.yaml",
        "query parameter 'token'",
    ): "uuid pattern needs 36 characters, maxLength 30",
    (
        "openapi-test702.yaml",
        "query parameter 'token'",
    ): "uuid pattern needs 36 characters, maxLength 30",
}


def _documents() -> list[tuple[Path, Path]]:
    out = []
    for root in ROOTS:
        if not root.is_dir():
            continue
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".yaml", ".yml", ".json") or not path.is_file():
                continue
            if path.stat().st_size > BIG:
                continue
            head = path.read_bytes()[:4096]
            if b"openapi" in head or b"swagger" in head:
                out.append((root, path))
    return out


def test_every_generated_value_validates() -> None:
    total = Tally()
    failures: list[str] = []
    known: set[tuple[str, str]] = set()
    loaded = 0
    for root, path in _documents():
        try:
            spec = load_spec_file(path, root=root)
        except SpecError:
            continue  # not an OpenAPI document, or refused on purpose
        loaded += 1
        tally = check_spec(spec)
        total.values += tally.values
        total.valid += tally.valid
        for f in tally.failures:
            if (path.name, f.what) in UNSATISFIABLE:
                known.add((path.name, f.what))
                continue
            rel = path.relative_to(root.parent)
            failures += [f"{rel}: {f.operation}: {f.what} at {p}" for p in f.problems]
    # The repository's own corpus (tests/data) alone is 54 documents and 251 values; a clean
    # clone has no ../shared/data beside it, so the floor is what the repository holds.
    assert loaded >= 50 and total.values >= 240, (loaded, total.values)
    assert not failures, f"{len(failures)} invalid of {total.values}:\n" + "\n".join(failures)
    stale = {k for k in UNSATISFIABLE if k[0] in {p.name for _, p in _documents()}} - known
    assert not stale, f"these now validate; drop them from UNSATISFIABLE: {stale}"


def test_the_check_can_fail(tmp_path: Path) -> None:
    """An example that breaks its schema is not used, and a wrong value is caught."""
    spec_file = tmp_path / "openapi.yaml"
    spec_file.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n"
        "      parameters:\n        - {name: n, in: query, required: true, example: 'abc',\n"
        "           schema: {type: integer, minimum: 5}}\n"
        "      responses: {'200': {description: ok}}\n"
    )
    spec = load_spec_file(spec_file)
    tally = check_spec(spec)
    assert (tally.values, tally.valid) == (1, 1)
    assert any("does not match its schema" in w for w in tally.warnings)
    from plog_ci.loadgen.validity import dialect_of, errors

    param = spec.operations["GET /x"].parameters[0]
    assert errors("abc", param.schema, dialect=dialect_of(spec.version)) == [
        "/: 'abc' is not of type 'integer'"
    ]
