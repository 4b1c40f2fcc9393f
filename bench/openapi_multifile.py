"""Multi-file specs: a 3,000-file spec loads and diffs; hostile fan-outs stop at a limit.

Run: ``.venv/bin/python -m bench.openapi_multifile [--files 3000] [--runs 3]``.

Builds in a temporary directory, then times each case in a fresh child process
(peak RSS is that of the one load):

- **multifile**: a spec split like DigitalOcean's public description (one file
  per operation, model, response, parameter set and example, joined by relative
  ``$ref``\\s, shared models reached from every resource): load time and peak
  RSS, then load + diff against a copy with one model file changed.
- **fan-out 1 GB**: one schema whose properties ``$ref`` 100,000 files of 10 KB
  (hard links to one file: 1 GB through ``$ref``, little disk): time to the
  refusal and the limit named.
- **many tiny files**: 100,000 ``$ref``\\s to 20-byte files (2 MB in all): the
  file-count limit.
- **ref chain**: 2,000 files, each ``$ref``-ing the next: the depth limit.
- **shared 10^10**: ten files, each with ten ``$ref``\\s to the next (a billion
  laughs through ``$ref``, 10^10 nodes if copied): loads, shared, not copied.

Limits are the defaults unless ``PLOG_SPEC_*`` is set (:mod:`plog_ci.openapi.limits`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

FILES_PER_RESOURCE = 12


def _write(path: Path, doc: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _resource(root: Path, k: int, resources: int) -> dict[str, Any]:
    """Write resource ``r<k>``'s 12 files; return its two path items for the root."""
    base = root / "resources" / f"r{k}"
    shared = "../../../shared"
    leader = k - k % 10  # models of a group of ten refer to the group's first model
    item_props: dict[str, Any] = {
        "id": {"type": "string", "format": "uuid", "readOnly": True},
        "name": {"type": "string", "maxLength": 255, "description": f"name of r{k} " * 3},
        "size_gb": {"type": "integer", "minimum": 1, "maximum": 16_384},
        "region": {"$ref": "region.yml"},
        "meta": {"$ref": f"{shared}/models/meta.yml"},
        "tags": {"type": "array", "items": {"$ref": f"{shared}/models/tag.yml"}},
    }
    if leader != k:
        item_props["group"] = {"$ref": f"../../r{leader}/models/item.yml"}
    _write(
        base / "models/item.yml",
        {"type": "object", "required": ["id", "name"], "properties": item_props},
    )
    _write(
        base / "models/create.yml",
        {
            "type": "object",
            "required": ["name", "region"],
            "properties": {
                "name": {"type": "string", "maxLength": 255},
                "region": {"$ref": "region.yml"},
                "size_gb": {"type": "integer", "minimum": 1},
            },
        },
    )
    _write(base / "models/region.yml", {"type": "string", "enum": ["nyc1", "ams3", "fra1"]})
    _write(
        base / "examples/item.yml",
        {"summary": f"a r{k}", "value": {"id": "6b1f0c1e", "name": f"r{k}-1", "region": "ams3"}},
    )
    json_of = "application/json"
    _write(
        base / "responses/one.yml",
        {
            "description": f"one r{k}",
            "content": {
                json_of: {
                    "schema": {
                        "type": "object",
                        "properties": {"item": {"$ref": "../models/item.yml"}},
                    },
                    "examples": {"default": {"$ref": "../examples/item.yml"}},
                }
            },
        },
    )
    _write(
        base / "responses/list.yml",
        {
            "description": f"all r{k}",
            "content": {
                json_of: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "items": {"type": "array", "items": {"$ref": "../models/item.yml"}},
                            "links": {"$ref": f"{shared}/models/links.yml"},
                        },
                    }
                }
            },
        },
    )
    _write(
        base / "parameters.yml",
        {"id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}},
    )
    errors = "../../../shared/responses/errors.yml"
    page = "../../../shared/parameters.yml"
    ops = {
        "list": {
            "operationId": f"r{k}_list",
            "parameters": [{"$ref": f"{page}#/page"}, {"$ref": f"{page}#/per_page"}],
            "responses": {
                "200": {"$ref": "../responses/list.yml"},
                "401": {"$ref": f"{errors}#/unauthorized"},
            },
        },
        "create": {
            "operationId": f"r{k}_create",
            "requestBody": {
                "required": True,
                "content": {json_of: {"schema": {"$ref": "../models/create.yml"}}},
            },
            "responses": {
                "201": {"$ref": "../responses/one.yml"},
                "401": {"$ref": f"{errors}#/unauthorized"},
            },
        },
        "get": {
            "operationId": f"r{k}_get",
            "parameters": [{"$ref": "../parameters.yml#/id"}],
            "responses": {
                "200": {"$ref": "../responses/one.yml"},
                "404": {"$ref": f"{errors}#/not_found"},
            },
        },
        "update": {
            "operationId": f"r{k}_update",
            "parameters": [{"$ref": "../parameters.yml#/id"}],
            "requestBody": {
                "required": True,
                "content": {json_of: {"schema": {"$ref": "../models/create.yml"}}},
            },
            "responses": {"200": {"$ref": "../responses/one.yml"}},
        },
        "delete": {
            "operationId": f"r{k}_delete",
            "parameters": [{"$ref": "../parameters.yml#/id"}],
            "responses": {"204": {"description": "deleted"}},
        },
    }
    for name, op in ops.items():
        _write(base / f"ops/{name}.yml", op)
    ref = f"resources/r{k}/ops"
    return {
        f"/v2/r{k}": {"get": {"$ref": f"{ref}/list.yml"}, "post": {"$ref": f"{ref}/create.yml"}},
        f"/v2/r{k}/{{id}}": {
            "get": {"$ref": f"{ref}/get.yml"},
            "put": {"$ref": f"{ref}/update.yml"},
            "delete": {"$ref": f"{ref}/delete.yml"},
        },
    }


def build_multifile(root: Path, files: int = 3000) -> Path:
    """Write a spec of about ``files`` files under ``root``; return the root file.

    Per resource: five operation files, three models, two responses, a parameter
    file and an example; shared: meta, tag and links models, error responses and
    paging parameters. Every resource's models reach the shared ones."""
    resources = max(1, (files - 6) // FILES_PER_RESOURCE)
    paths: dict[str, Any] = {}
    for k in range(resources):
        paths.update(_resource(root, k, resources))
    shared = root / "shared"
    _write(
        shared / "models/meta.yml",
        {
            "type": "object",
            "properties": {
                "total": {"type": "integer", "minimum": 0},
                "created_at": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {"$ref": "tag.yml"}},
            },
        },
    )
    _write(shared / "models/tag.yml", {"type": "string", "pattern": "^[a-z0-9:-]{1,255}$"})
    _write(
        shared / "models/links.yml",
        {"type": "object", "properties": {"next": {"type": "string", "format": "uri"}}},
    )
    error = {
        "type": "object",
        "required": ["id", "message"],
        "properties": {"id": {"type": "string"}, "message": {"type": "string"}},
    }
    _write(shared / "models/error.yml", error)
    _write(
        shared / "responses/errors.yml",
        {
            name: {
                "description": name,
                "content": {"application/json": {"schema": {"$ref": "../models/error.yml"}}},
            }
            for name in ("unauthorized", "not_found")
        },
    )
    _write(
        shared / "parameters.yml",
        {
            name: {"name": name, "in": "query", "schema": {"type": "integer", "minimum": 1}}
            for name in ("page", "per_page")
        },
    )
    spec = root / "openapi.yaml"
    _write(
        spec,
        {
            "openapi": "3.0.0",
            "info": {"title": "multi-file", "version": "2.0"},
            "servers": [{"url": "http://127.0.0.1:18080"}],
            "paths": paths,
        },
    )
    return spec


def change_one_model(root: Path, k: int = 5) -> Path:
    """In a copy written by :func:`build_multifile`: make ``size_gb`` of r<k>'s create
    model required (a breaking request change of POST and PUT on r<k>)."""
    path = root / "resources" / f"r{k}" / "models/create.yml"
    doc = yaml.safe_load(path.read_text())
    doc["required"].append("size_gb")
    _write(path, doc)
    return path


def _fan_out(root: Path, name: str, count: int, leaf: bytes) -> Path:
    """A spec with one schema whose ``count`` properties ``$ref`` distinct files,
    hard links to a few files holding ``leaf`` (little disk, however many)."""
    folder = root / name
    (folder / "f").mkdir(parents=True)
    first = folder / "f" / "0.yaml"
    for i in range(count):
        if i % 50_000 == 0:  # a file takes at most 65,000 links on ext4
            first = folder / "f" / f"{i}.yaml"
            first.write_bytes(leaf)
        else:
            os.link(first, folder / "f" / f"{i}.yaml")
    props = {f"p{i}": {"$ref": f"f/{i}.yaml"} for i in range(count)}
    spec = folder / "openapi.json"
    spec.write_text(json.dumps(_one_schema_spec({"type": "object", "properties": props})))
    return spec


def _one_schema_spec(schema: dict[str, Any]) -> dict[str, Any]:
    ok = {"description": "ok", "content": {"application/json": {"schema": schema}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "hostile", "version": "1"},
        "paths": {"/a": {"get": {"responses": {"200": ok}}}},
    }


def build_fan_out(root: Path, count: int = 100_000, leaf_bytes: int = 10_000) -> Path:
    """``count`` $refs to distinct ``leaf_bytes`` files (1 GB at the defaults)."""
    text = "type: object\ndescription: " + "x" * leaf_bytes + "\n"
    return _fan_out(root, "fan-out", count, text[:leaf_bytes].encode() + b"\n")


def build_tiny_files(root: Path, count: int = 100_000) -> Path:
    """``count`` $refs to distinct 20-byte files."""
    return _fan_out(root, "tiny", count, b"{type: string}     \n")


def build_chain(root: Path, length: int = 2_000) -> Path:
    """``length`` files, each a schema whose one property ``$ref``\\s the next."""
    folder = root / "chain"
    folder.mkdir()
    for i in range(length):
        nxt = {"$ref": f"c{i + 1}.json"} if i + 1 < length else {"type": "string"}
        (folder / f"c{i}.json").write_text(
            json.dumps({"type": "object", "properties": {"next": nxt}})
        )
    spec = folder / "openapi.json"
    spec.write_text(json.dumps(_one_schema_spec({"$ref": "c0.json"})))
    return spec


def build_shared(root: Path, levels: int = 10, width: int = 10) -> Path:
    """``levels`` files, each with ``width`` $refs to the next: width**levels nodes if
    every reference were copied."""
    folder = root / "shared"
    folder.mkdir()
    for i in range(levels):
        props = {
            f"p{j}": ({"$ref": f"l{i + 1}.json"} if i + 1 < levels else {"type": "integer"})
            for j in range(width)
        }
        (folder / f"l{i}.json").write_text(json.dumps({"type": "object", "properties": props}))
    spec = folder / "openapi.json"
    spec.write_text(json.dumps(_one_schema_spec({"$ref": "l0.json"})))
    return spec


# -- measuring -----------------------------------------------------------------


def _child(mode: str, spec: str, other: str) -> None:
    from plog_ci.errors import InputError
    from plog_ci.openapi.load import load_spec_file

    start = time.perf_counter()
    out: dict[str, Any] = {}
    try:
        loaded = load_spec_file(spec)
        out["operations"] = len(loaded.operations)
        if mode == "diff":
            from plog_ci.openapi.diff import diff_specs

            result = diff_specs(loaded, load_spec_file(other))
            out["changes"] = len(result.changes)
            out["modified"] = len(result.modified)
    except InputError as exc:
        out["refused"] = exc.message.splitlines()[0]
    out["wall"] = time.perf_counter() - start
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))


def _measure(mode: str, spec: Path, other: Path | None, runs: int) -> dict[str, Any]:
    from plog_ci import proc

    results = []
    for _ in range(runs):
        argv = (sys.executable, "-m", "bench.openapi_multifile", "--child", mode, str(spec))
        out = proc.run((*argv, str(other or spec)), timeout=None)
        results.append(json.loads(out.stdout))
    first = dict(results[0])
    first["wall"] = statistics.median(r["wall"] for r in results)
    first["rss_mb"] = statistics.median(r["rss_mb"] for r in results)
    return first


def _line(label: str, r: dict[str, Any], runs: int) -> str:
    what = f"refused: {r['refused']}" if "refused" in r else f"{r.get('operations', 0)} operations"
    if "changes" in r:
        what += f", {r['changes']} changes, {r['modified']} modified"
    return f"  {label}: {r['wall']:.2f} s (median of {runs}), peak RSS {r['rss_mb']:.0f} MB; {what}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        base = build_multifile(Path(tmp) / "base", args.files)
        head = build_multifile(Path(tmp) / "head", args.files)
        change_one_model(head.parent)
        count = sum(1 for p in base.parent.rglob("*") if p.is_file())
        mb = sum(p.stat().st_size for p in base.parent.rglob("*") if p.is_file()) / 1e6
        print(f"openapi multi-file: {count} files, {mb:.1f} MB")
        print(_line("load", _measure("load", base, None, args.runs), args.runs))
        print(_line("load + diff", _measure("diff", base, head, args.runs), args.runs))
        hostile = Path(tmp) / "hostile"
        hostile.mkdir()
        cases = [
            ("fan-out, 100,000 $refs to 10 KB files (1 GB)", build_fan_out(hostile)),
            ("100,000 $refs to 20-byte files", build_tiny_files(hostile)),
            ("a chain of 2,000 files", build_chain(hostile)),
            ("10 files x 10 $refs each (10^10 nodes if copied)", build_shared(hostile)),
        ]
        print("hostile specs (limits: PLOG_SPEC_* or the defaults):")
        for label, spec in cases:
            print(_line(label, _measure("load", spec, None, args.runs), args.runs))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(main(sys.argv[1:]))
