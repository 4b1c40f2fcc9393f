"""Ids nested under other ids: a chain of producers (issue 17, items 6 and 10).

Kinto's shape: ``/buckets/{bucket_id}/collections/{collection_id}/records/{record_id}``,
each level created by a POST on the level above, the created id in the response
under ``data`` (the schemas name no id), and a collection found only in the bucket
it was created in (one bucket creation in four fails, so the pools differ in size
and ids from separate pools would not line up). Setup creates buckets, then
collections in those buckets, then records in those collections; a read always
names a record with the collection and bucket it was made in; a DELETE creates its
own resource first (in a real parent), and cleanup removes children before parents.
The service counts what is left.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from plog_ci.config.model import LoadConfig
from plog_ci.loadgen.planning import plan_operations
from plog_ci.openapi.load import load_spec_bytes
from plog_ci.store.sqlite import open_store
from testing.json_app import json_app
from testing.k6_tools import need_k6
from testing.repos import commit_files, plog_run

APP = json_app(
    r"""

tree, lock, counter, made = {}, threading.Lock(), [0], [0]
LEFT = sys.argv[2]


def save():
    buckets = len(tree)
    collections = sum(len(b) for b in tree.values())
    records = sum(len(c) for b in tree.values() for c in b.values())
    with open(LEFT, "w") as fh:
        json.dump({"buckets": buckets, "collections": collections, "records": records}, fh)


def new_id():
    counter[0] += 1
    return "n%d" % counter[0]


class Handler(JsonHandler):
    def parts(self):
        return [p for p in self.path.split("?")[0].split("/") if p]

    def node(self, parts):
        # /buckets/b/collections/c/records/r -> the dict holding the last level
        level = tree
        names = ["buckets", "collections", "records"]
        for depth, i in enumerate(range(0, len(parts) - 1, 2)):
            if parts[i] != names[depth]:
                return None
            if i + 1 >= len(parts):
                break
            if i + 2 >= len(parts):
                return level, parts[i + 1]
            level = level.get(parts[i + 1])
            if level is None:
                return None
        return None

    def do_GET(self):
        if self.path == "/health":
            return self.reply(200, "ok")
        with lock:
            found = self.node(self.parts())
            ok = found is not None and found[1] in found[0]
        self.reply(200, {"data": {"id": found[1]}}) if ok else self.reply(404, {"e": "missing"})

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.parts()
        with lock:
            if len(parts) == 1:
                level = tree
                made[0] += 1
                if made[0] % 4 == 2:  # pools of different sizes: ids do not line up
                    return self.reply(503, {"e": "busy"})
            else:
                found = self.node(parts[:-1])
                level = found[0].get(found[1]) if found else None
            if level is None:
                return self.reply(404, {"e": "no parent"})
            key = new_id()
            level[key] = {}
            save()
        self.reply(201, {"data": {"id": key, "last_modified": 1}})

    def do_DELETE(self):
        with lock:
            found = self.node(self.parts())
            if found is None or found[1] not in found[0]:
                return self.reply(404, {"e": "missing"})
            if found[0][found[1]]:
                return self.reply(409, {"e": "not empty"})  # children go first
            del found[0][found[1]]
            save()
        self.reply(200, {"data": {"deleted": True}})


save()
"""
)


def _op(kind: str, ok: str) -> str:
    return f"""      responses:
        "{ok}":
          description: {kind}
          content:
            application/json:
              schema: {{type: object, properties: {{data: {{type: object}}}}}}
"""


def _param(name: str) -> str:
    return f"        - {{name: {name}, in: path, required: true, schema: {{type: string}}}}\n"


B, C, R = _param("bucket_id"), _param("collection_id"), _param("record_id")
SPEC = (
    'swagger: "2.0"\ninfo: {title: nested, version: "1"}\nproduces: [application/json]\n'
    "paths:\n"
    "  /buckets:\n    post:\n" + _op("created", "201") + "  /buckets/{bucket_id}/collections:\n"
    "    post:\n      parameters:\n" + B + _op("created", "201") + "  /buckets/{bucket_id}"
    "/collections/{collection_id}:\n    get:\n      parameters:\n"
    + B
    + C
    + _op("ok", "200")
    + "    delete:\n      parameters:\n"
    + B
    + C
    + _op("deleted", "200")
    + "  /buckets/{bucket_id}/collections/{collection_id}/records:\n    post:\n"
    "      parameters:\n" + B + C + _op("created", "201") + "  /buckets/{bucket_id}/collections/"
    "{collection_id}/records/{record_id}:\n    get:\n      parameters:\n"
    + B
    + C
    + R
    + _op("ok", "200")
    + "    delete:\n      parameters:\n"
    + B
    + C
    + R
    + _op("deleted", "200")
    + "  /buckets/{bucket_id}:\n    delete:\n      parameters:\n"
    + B
    + _op("deleted", "200")
)

RECORD = "/buckets/{bucket_id}/collections/{collection_id}/records/{record_id}"
COLLECTION = "/buckets/{bucket_id}/collections/{collection_id}"

PLOG_YML = f"""\
version: 1
service:
  run: python app.py {{port}} LEFT
  health: /health
openapi: swagger.yaml
load:
  rate: 5
  duration: 2s
  setup_resources: 3
  operations: ["GET {RECORD}", "DELETE {RECORD}", "GET {COLLECTION}"]
gates:
  - error_rate < 1%
compare:
  mode: "off"
"""


def test_producers_are_planned_parents_first_with_their_parents_mapped() -> None:
    spec = load_spec_bytes(SPEC.encode(), "swagger.yaml")
    ops = [spec.operations[f"GET {RECORD}"], spec.operations[f"DELETE {RECORD}"]]
    planned = plan_operations(spec, ops, {}, LoadConfig(), None, [])
    names = [p["request"]["name"] for p in planned.producers]
    assert names == [
        "POST /buckets",
        "POST /buckets/{bucket_id}/collections",
        "POST /buckets/{bucket_id}/collections/{collection_id}/records",
    ]
    records = planned.producers[2]
    assert records["request"]["binds"] == {"bucket_id": 0, "collection_id": 1}
    assert records["request"]["parents"] == {"collection_id": {"bucket_id": "bucket_id"}}
    assert records["cleanupParam"] == "record_id"
    assert records["cleanupParents"] == {"bucket_id": "bucket_id", "collection_id": "collection_id"}
    get, delete = planned.plans
    assert get["binds"] == {"bucket_id": 0, "collection_id": 1, "record_id": 2}
    assert get["parents"]["record_id"] == {
        "bucket_id": "bucket_id",
        "collection_id": "collection_id",
    }
    # The DELETE makes its own record, in a real collection of a real bucket.
    assert delete["createFirst"]["producer"] == 2
    assert delete["binds"] == {"bucket_id": 0, "collection_id": 1}


def test_a_producer_whose_parent_nothing_creates_keeps_the_generated_value() -> None:
    cyclic = """\
openapi: 3.0.3
info: {title: cycle, version: "1"}
paths:
  /a/{b_id}/things:
    post:
      parameters: [{name: b_id, in: path, required: true, schema: {type: string}}]
      responses:
        "201":
          description: made
          content:
            application/json: {schema: {type: object, properties: {id: {type: string}}}}
  /a/{b_id}/things/{id}:
    get:
      parameters:
        - {name: b_id, in: path, required: true, schema: {type: string}}
        - {name: id, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
"""
    spec = load_spec_bytes(cyclic.encode(), "openapi.yaml")
    op = spec.operations["GET /a/{b_id}/things/{id}"]
    planned = plan_operations(spec, [op], {}, LoadConfig(), None, [])
    assert [p["request"]["name"] for p in planned.producers] == ["POST /a/{b_id}/things"]
    assert planned.plans[0]["binds"] == {"id": 0}


def test_nested_resources_are_read_in_their_own_parents_and_cleaned_up(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("nested")
    left_file = plog_home / "left.json"
    config = PLOG_YML.replace("LEFT", str(left_file))
    commit_files(repo, {"app.py": APP, "swagger.yaml": SPEC, "plog.yml": config}, "nested")
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    store = open_store(plog_home)
    try:
        stats = store.operation_stats(1)
        # the markdown escapes (\{, \_): read it as text
        report = Path(str(store.get_run(1).report_path)).read_text().replace("\\", "")
    finally:
        store.close()
    # The report says what setup made: one bucket creation in four failed.
    (row,) = [line for line in report.splitlines() if line.startswith("| POST /buckets |")]
    assert row.startswith("| POST /buckets | – | 2 of 3 |")
    assert "POST /buckets/{bucket_id}/collections (bucket_id)" in row
    for name in (f"GET {RECORD}", f"DELETE {RECORD}", f"GET {COLLECTION}"):
        assert stats[name].count > 0 and stats[name].error_rate == 0.0, (
            name,
            stats[name].errors_by_status,
        )
    # Cleanup deleted records, then collections, then buckets: nothing is left.
    left = json.loads(left_file.read_text())
    assert left == {"buckets": 0, "collections": 0, "records": 0}


def test_a_producer_that_makes_nothing_is_named_with_the_operations_it_left_without_ids(
    new_repo: Callable[..., Path], plog_home: Path
) -> None:
    need_k6()
    repo = new_repo("nested")
    left_file = plog_home / "left.json"
    config = PLOG_YML.replace("LEFT", str(left_file)).replace("error_rate < 1%", "p95 < 10s")
    app = APP.replace("if made[0] % 4 == 2:", "if made[0] > 0:")  # every bucket refused
    commit_files(repo, {"app.py": app, "swagger.yaml": SPEC, "plog.yml": config}, "nested")
    done = plog_run(repo, plog_home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "warning: setup POST /buckets: created none of the 3 resources" in done.stderr
    store = open_store(plog_home)
    try:
        report = Path(str(store.get_run(1).report_path)).read_text().replace("\\", "")
        findings = store.findings(1)
    finally:
        store.close()
    assert "| POST /buckets | – | **0** of 3 |" in report
    assert f"GET {RECORD}: no real id for bucket_id: POST /buckets gave none" in report
    # Kept with the run, and the failed setup request is there to read.
    assert any(f["kind"] == "setup" and f["operation"] == "POST /buckets" for f in findings)
    assert "### setup POST /buckets" in report and "→ 503" in report
