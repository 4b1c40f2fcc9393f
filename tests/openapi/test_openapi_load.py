"""Loading specs: formats, multi-file refs, git revisions, and hostile input."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from conftest import DATA, commit_all

from plog_ci.errors import InputError
from plog_ci.gitrepo import GitRepo
from plog_ci.openapi.errors import RefError, SpecError, SpecTooLargeError
from plog_ci.openapi.load import load_spec_bytes, load_spec_file, load_spec_from_git

SPECS = DATA / "openapi"
MINIMAL = """openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /pets:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                $ref: %s
"""


def spec_with_ref(ref: str) -> str:
    return MINIMAL % repr(ref)


@pytest.mark.parametrize(
    ("name", "version", "count"),
    [
        ("v2/petstore.yaml", "2.0", 3),
        ("v2/uber.yaml", "2.0", 5),
        ("v3/petstore-expanded.yaml", "3.0.0", 4),
        ("v3/uspto.yaml", "3.0.1", 3),
        ("v3/realworld-conduit.yml", "3.1.0", 19),
        ("v31/webhook-example.json", "3.1.0", 0),
    ],
)
def test_loads_swagger2_openapi30_31_yaml_and_json(name: str, version: str, count: int) -> None:
    spec = load_spec_file(SPECS / name)
    assert spec.version == version
    assert len(spec.operations) == count


def test_multi_file_spec_resolves_relative_refs_inside_root() -> None:
    spec = load_spec_file(
        SPECS / "v2/petstore-separate/spec/swagger.yaml", root=SPECS / "v2/petstore-separate"
    )
    op = spec.operations["GET /pets"]
    assert op.params("query")  # parameters.yaml#/tags etc. came from other files
    error = op.responses["default"].content["application/json"].schema
    assert error is not None and "code" in error["properties"]  # ../common/Error.yaml


def test_multi_file_ref_escaping_the_given_root_is_refused() -> None:
    # With the default root (the spec's folder) ../common/Error.yaml leaves the root.
    with pytest.raises(RefError, match=r"\.\./common/Error\.yaml.*leaves the repository root"):
        load_spec_file(SPECS / "v2/petstore-separate/spec/swagger.yaml")


def test_git_revision_resolves_refs_in_the_same_commit(
    git_repo: Callable[..., tuple[Path, str]],
) -> None:
    schema_v1 = "type: object\nproperties: {name: {type: string}}\n"
    repo, first = git_repo(
        {"api/openapi.yaml": spec_with_ref("schemas/pet.yaml"), "api/schemas/pet.yaml": schema_v1}
    )
    (repo / "api/schemas/pet.yaml").write_text("type: object\nproperties: {id: {type: integer}}\n")
    second = commit_all(repo, "change pet")
    (repo / "api/schemas/pet.yaml").write_text("not: [valid")  # dirty tree: never read
    git = GitRepo(repo)
    old = load_spec_from_git(git, first, "api/openapi.yaml")
    new = load_spec_from_git(git, second, "api/openapi.yaml")

    def props(spec: object) -> set[str]:
        schema = (
            spec.operations["GET /pets"]
            .responses["200"]
            .content[  # type: ignore[attr-defined]
                "application/json"
            ]
            .schema
        )
        return set(schema["properties"])

    assert props(old) == {"name"}
    assert props(new) == {"id"}
    assert old.source == f"{first[:12]}:api/openapi.yaml"


def test_recursive_schema_loads() -> None:
    text = """openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /tree:
    get:
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Node"}
components:
  schemas:
    Node:
      type: object
      properties:
        name: {type: string}
        children: {type: array, items: {$ref: "#/components/schemas/Node"}}
"""
    spec = load_spec_bytes(text.encode(), "tree.yaml")
    schema = spec.operations["GET /tree"].responses["200"].content["application/json"].schema
    assert schema is not None
    inner = schema["properties"]["children"]["items"]
    assert inner == {"$ref": "#/components/schemas/Node", "x-plog-recursive": True}


def test_small_schema_breaks_are_warnings() -> None:
    text = """openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  /a/{id}:
    get:
      operationId: dup
      parameters: [{name: id, in: path, schema: {type: string}}]
  /b:
    get:
      operationId: dup
      responses: {"200": {description: ok}}
"""
    spec = load_spec_bytes(text.encode(), "lenient.yaml")
    assert set(spec.operations) == {"GET /a/{id}", "GET /b"}
    joined = "\n".join(spec.warnings)
    assert "operationId 'dup' is also used" in joined
    assert "no 'responses'" in joined
    assert "lacks 'required: true'" in joined
    assert spec.operations["GET /a/{id}"].parameters[0].required


# -- hostile input: each gives a located error, fast, without network or reads outside -----

BAD = pytest.mark.timeout(5)


def _repo_with(tmp_path: Path, spec: str) -> Path:
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    (root / "openapi.yaml").write_text(spec)
    return root


@BAD
@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("/etc/passwd", "absolute paths are not allowed"),
        ("../../etc/hostname", "leaves the repository root"),
        ("/dev/zero", "absolute paths are not allowed"),
        ("file:///etc/passwd", "file references are not allowed"),
        ("ftp://example.com/x.yaml", "ftp references are not allowed"),
        ("missing.yaml", "no such file"),
        ("#/components/schemas/Nope", "points at nothing"),
    ],
)
def test_refused_refs_name_file_ref_and_place(tmp_path: Path, ref: str, reason: str) -> None:
    root = _repo_with(tmp_path, spec_with_ref(ref))
    with pytest.raises(RefError) as info:
        load_spec_file(root / "openapi.yaml")
    message = str(info.value)
    assert reason in message
    assert f"$ref {ref!r}" in message
    assert "openapi.yaml:12:" in message  # file:line:col of the $ref
    assert "#/paths/~1pets/get/responses/200/content/application~1json/schema" in message
    assert isinstance(info.value, InputError)


class _Recorder(http.server.BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        _Recorder.hits.append(self.path)
        body = b"type: object\nproperties: {remote: {type: string}}\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[int]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.hits = []
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@BAD
def test_http_ref_refused_without_any_request(tmp_path: Path, http_server: int) -> None:
    root = _repo_with(tmp_path, spec_with_ref("http://127.0.0.1:9/x"))
    with pytest.raises(RefError, match="network references are refused"):
        load_spec_file(root / "openapi.yaml")
    root = _repo_with(tmp_path, spec_with_ref(f"http://127.0.0.1:{http_server}/x.yaml"))
    with pytest.raises(RefError, match=r"openapi\.allow_hosts"):
        load_spec_file(root / "openapi.yaml")
    assert _Recorder.hits == []


@BAD
def test_http_ref_fetched_only_from_an_allow_listed_host(tmp_path: Path, http_server: int) -> None:
    root = _repo_with(tmp_path, spec_with_ref(f"http://127.0.0.1:{http_server}/x.yaml"))
    spec = load_spec_file(root / "openapi.yaml", allow_hosts=("127.0.0.1",))
    schema = spec.operations["GET /pets"].responses["200"].content["application/json"].schema
    assert schema is not None and "remote" in schema["properties"]
    assert _Recorder.hits == ["/x.yaml"]


@BAD
def test_symlink_pointing_out_of_the_repo_is_refused(tmp_path: Path) -> None:
    root = _repo_with(tmp_path, spec_with_ref("etc/hostname"))
    (root / "etc").symlink_to("/etc")
    with pytest.raises(RefError, match="outside the repository root"):
        load_spec_file(root / "openapi.yaml")


@BAD
def test_symlink_committed_to_git_pointing_out_is_refused(
    git_repo: Callable[..., tuple[Path, str]],
) -> None:
    repo, _ = git_repo({"openapi.yaml": spec_with_ref("etc/hostname")})
    (repo / "etc").symlink_to("/etc")
    (repo / "pet.yaml").symlink_to("/etc/hostname")
    sha = commit_all(repo, "links")
    with pytest.raises(RefError, match="etc/hostname"):
        load_spec_from_git(GitRepo(repo), sha, "openapi.yaml")
    (repo / "openapi.yaml").write_text(spec_with_ref("pet.yaml"))
    sha = commit_all(repo, "link to a file")
    with pytest.raises(RefError, match="symlink to /etc/hostname, outside the repository"):
        load_spec_from_git(GitRepo(repo), sha, "openapi.yaml")


@BAD
def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    root = _repo_with(tmp_path, spec_with_ref("pipe.yaml"))
    os.mkfifo(root / "pipe.yaml")
    with pytest.raises(RefError, match="not a regular file"):
        load_spec_file(root / "openapi.yaml")


@BAD
def test_50_mb_spec_is_refused_before_reading(tmp_path: Path) -> None:
    root = _repo_with(tmp_path, "")
    with open(root / "openapi.yaml", "wb") as handle:
        handle.truncate(50 << 20)  # sparse: the size is what matters
    with pytest.raises(SpecTooLargeError, match="over the 16,777,216-byte limit"):
        load_spec_file(root / "openapi.yaml")


@BAD
def test_10000_paths_are_refused(tmp_path: Path) -> None:
    paths = "".join(
        f"  /p{i}:\n    get: {{responses: {{'200': {{description: ok}}}}}}\n" for i in range(10_000)
    )
    root = _repo_with(tmp_path, "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n" + paths)
    with pytest.raises(SpecTooLargeError, match="10,000 paths, over the limit"):
        load_spec_file(root / "openapi.yaml")


ALIAS_BOMB = """openapi: 3.0.3
info: {title: t, version: "1"}
x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
x-b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
x-c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
x-d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
x-e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
x-f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
x-g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
x-h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
x-i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
paths: {}
"""


@BAD
def test_yaml_alias_bomb_is_refused(tmp_path: Path) -> None:
    root = _repo_with(tmp_path, ALIAS_BOMB)
    with pytest.raises(SpecTooLargeError, match="alias bomb"):
        load_spec_file(root / "openapi.yaml")


@BAD
def test_self_containing_alias_is_refused() -> None:
    with pytest.raises(SpecError, match="recursive YAML alias"):
        load_spec_bytes(b"openapi: 3.0.3\nx: &a [*a]\npaths: {}\n", "loop.yaml")


@BAD
def test_invalid_yaml_names_line_and_column(tmp_path: Path) -> None:
    root = _repo_with(tmp_path, "openapi: 3.0.3\npaths:\n  /a: [unclosed\n")
    with pytest.raises(SpecError, match=r"openapi\.yaml:4:1: invalid YAML"):
        load_spec_file(root / "openapi.yaml")


@BAD
def test_unknown_yaml_tag_is_refused() -> None:
    with pytest.raises(SpecError, match="invalid YAML"):
        load_spec_bytes(b"openapi: !!python/object:os.system 3.0.3\npaths: {}\n", "tag.yaml")


@BAD
def test_document_that_is_not_openapi() -> None:
    with pytest.raises(SpecError, match="not an OpenAPI document"):
        load_spec_file(SPECS / "v3/realworld-conduit.postman_collection.json")


@BAD
@pytest.mark.parametrize(
    "text",
    [
        '{"swaggerVersion": "1.2", "apis": []}',
        "swagger: '1.2'\npaths: {}\n",
        "openapi: 4.0.0\npaths: {}\n",
    ],
)
def test_unsupported_versions(text: str) -> None:
    with pytest.raises(SpecError, match="not supported"):
        load_spec_bytes(text.encode(), "old.json")


@BAD
def test_refs_in_a_bytes_spec_cannot_reach_files() -> None:
    with pytest.raises(RefError, match="not available"):
        load_spec_bytes(spec_with_ref("other.yaml").encode(), "mem.yaml")
