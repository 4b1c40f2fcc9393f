"""Load + diff two ~4 MB specs of ~500 operations that differ in a few dozen places.

Run: ``.venv/bin/python -m bench.openapi_diff [--format json|yaml|both] [--runs 3]``.
Each run happens in a fresh child process so peak RSS is that of one load+diff.
Prints, per format (both by default), the median wall time and peak RSS over the
runs. Nothing is cached between runs: these are cold-load figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OPS_PATHS = 250  # x2 methods = 500 operations


def _schema(i: int) -> dict[str, Any]:
    props = {
        f"field{k}": {"type": "string", "maxLength": 64, "description": f"field {k} of {i} " * 4}
        for k in range(16)
    }
    props["owner"] = {"$ref": f"#/components/schemas/Model{(i + 1) % 100}"}
    return {"type": "object", "required": ["field0", "field1"], "properties": props}


def build(variant: bool) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for i in range(OPS_PATHS):
        params = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
        params += [
            {
                "name": f"q{j}",
                "in": "query",
                "description": "filter " * 20,
                "schema": {"type": "integer", "minimum": 0, "maximum": 1000},
            }
            for j in range(6)
        ]
        ref = {"$ref": f"#/components/schemas/Model{i % 100}"}
        paths[f"/resource{i}/{{id}}"] = {
            "get": {
                "operationId": f"get{i}",
                "summary": "Get " * 30,
                "description": "lorem ipsum " * 490,
                "parameters": params,
                "responses": {
                    "200": {"description": "ok", "content": {"application/json": {"schema": ref}}},
                    "404": {"description": "missing " * 20},
                },
            },
            "put": {
                "operationId": f"put{i}",
                "description": "dolor sit amet " * 390,
                "parameters": params[:1],
                "requestBody": {"required": True, "content": {"application/json": {"schema": ref}}},
                "responses": {"204": {"description": "done"}},
            },
        }
    schemas = {f"Model{i}": _schema(i) for i in range(100)}
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "bench", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }
    if variant:  # a few dozen differences
        for i in range(0, 30, 3):
            del paths[f"/resource{i}/{{id}}"]["put"]
        for i in range(30, 60, 3):
            paths[f"/resource{i}/{{id}}"]["get"]["parameters"][1]["schema"]["maximum"] = 10
        for i in range(60, 70):
            paths[f"/new{i}"] = {"get": {"responses": {"200": {"description": "ok"}}}}
        for i in range(5):
            schemas[f"Model{i}"]["properties"].pop("field3")
            schemas[f"Model{i}"]["required"].append("field4")
    return doc


def _child(base: str, head: str) -> None:
    from plog_ci.openapi.diff import diff_specs
    from plog_ci.openapi.load import load_spec_file

    start = time.perf_counter()
    result = diff_specs(load_spec_file(base), load_spec_file(head))
    wall = time.perf_counter() - start
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "wall": wall,
                "rss_mb": rss_mb,
                "changes": len(result.changes),
                "modified": len(result.modified),
                "added": len(result.added),
                "removed": len(result.removed),
            }
        )
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--format", choices=("json", "yaml", "both"), default="both")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    for fmt in ("json", "yaml") if args.format == "both" else (args.format,):
        _bench(fmt, args.runs)


def _bench(fmt: str, runs_wanted: int) -> None:
    # Imported here: the --child process measures its own memory without it.
    from plog_ci import proc

    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for name, variant in (("base", False), ("head", True)):
            doc = build(variant)
            path = Path(tmp) / f"{name}.{fmt}"
            if fmt == "json":
                path.write_text(json.dumps(doc, indent=1))
            else:
                import yaml  # type: ignore[import-untyped]

                path.write_text(yaml.safe_dump(doc, sort_keys=False))
            files.append(str(path))
        sizes = [Path(f).stat().st_size / 1e6 for f in files]
        runs = []
        for _ in range(runs_wanted):
            out = proc.run(
                (sys.executable, "-m", "bench.openapi_diff", "--child", *files), timeout=None
            )
            runs.append(json.loads(out.stdout))
    ops = sum(1 for _ in build(False)["paths"]) * 2
    print(
        f"openapi diff ({fmt}): 2 specs of {sizes[0]:.1f} / {sizes[1]:.1f} MB, "
        f"{ops} operations; {runs[0]['changes']} changes, {runs[0]['modified']} modified, "
        f"{runs[0]['added']} added, {runs[0]['removed']} removed"
    )
    print(
        f"  load+diff wall time: median {statistics.median(r['wall'] for r in runs):.2f} s "
        f"over {len(runs)} runs; peak RSS median "
        f"{statistics.median(r['rss_mb'] for r in runs):.0f} MB"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3])
    else:
        main(sys.argv[1:])
