"""Hostile OpenAPI specs, as a spec author would write them (issue 15, the ``spec``
entry point).

Each spec goes through the real commands as subprocesses: ``plog diff BASE SPEC``
(the spec as a file, and as ``REV:path`` in a git repository), ``plog gen SPEC -o
OUT`` and, for a few, ``plog run`` on a git repository. A refused spec exits 2 with
the file, the place (line or JSON pointer) and what to do, and no traceback.
Nothing is read that must not be: a canary file outside the repository (reached by
``..``, a symlink) never shows in any output or written file, and a loopback
listener named by a ``$ref`` sees no connection. Text from the spec that reaches a
generated k6 script is JSON-encoded only (``k6 inspect`` accepts the script), and
the markdown report holds no raw ``<script>`` or ``<img``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest

from plog_ci.forge.notes import NOTES_REF, REPORTS_REF
from testing.fake_forge import ConnectionRecorder
from testing.k6_tools import k6_inspect
from testing.paths import EXAMPLE
from testing.repos import FAST_PLOG_YML, commit_files, git

CANARY = "CANARY-spec-7f3a9c1e"
HEAD = 'openapi: 3.0.3\ninfo: {title: t, version: "1"}\n'
BASE = HEAD + 'paths:\n  /a:\n    get:\n      responses: {"200": {description: ok}}\n'


def ref_spec(ref: str) -> str:
    """A spec whose one response is a ``$ref`` to ``ref`` (line 8, column 17)."""
    return (
        HEAD
        + "paths:\n  /a:\n    get:\n      responses:\n        '200':\n"
        + f"          $ref: '{ref}'\n"
    )


def bomb() -> str:
    lines = [HEAD.rstrip("\n"), "paths: {}", "x-bomb:", '  a0: &a0 ["lol","lol","lol","lol"]']
    for i in range(1, 16):
        lines.append(f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Case:
    name: str
    content: str | bytes
    needles: tuple[str, ...]  # in the message, besides the file name
    links: tuple[tuple[str, str], ...] = ()  # (name in the repo, target) symlinks
    disk_only: bool = False  # cannot be committed (a FIFO)


HTTP_PORT = "@PORT@"  # replaced by the ConnectionRecorder's port
RELATIVE_HINT = "hint: $ref may only name files inside the repository"
CASES = [
    Case(
        "etc_passwd",
        ref_spec("/etc/passwd"),
        (
            ":8:17:",
            "#/paths/~1a/get/responses/200",
            "absolute paths are not allowed",
            RELATIVE_HINT,
        ),
    ),
    Case(
        "dotdot_outside",
        ref_spec("../../outside.yaml"),
        (":8:17:", "#/paths/~1a/get/responses/200", "leaves the repository root", RELATIVE_HINT),
    ),
    Case(
        "symlink_out",
        ref_spec("./link.yaml"),
        ("#/paths/~1a/get/responses/200", "link.yaml", "outside the repository"),
        links=(("link.yaml", "@OUTSIDE@"),),
    ),
    Case(
        "symlink_to_dev_zero",
        ref_spec("./zero.yaml"),
        ("#/paths/~1a/get/responses/200", "zero.yaml"),
        links=(("zero.yaml", "/dev/zero"),),
    ),
    Case(
        "dev_zero",
        ref_spec("/dev/zero"),
        ("#/paths/~1a/get/responses/200", "absolute paths are not allowed", RELATIVE_HINT),
    ),
    Case(
        "dev_urandom",
        ref_spec("/dev/urandom"),
        ("#/paths/~1a/get/responses/200", "absolute paths are not allowed", RELATIVE_HINT),
    ),
    Case(
        "fifo",
        ref_spec("./fifo.yaml"),
        ("#/paths/~1a/get/responses/200", "fifo.yaml", "not a regular file"),
        disk_only=True,
    ),
    Case(
        "file_url",
        ref_spec("file:///etc/passwd"),
        (":8:17:", "file references are not allowed", "hint: use a relative path"),
    ),
    Case(
        "http_loopback",
        ref_spec(f"http://127.0.0.1:{HTTP_PORT}/x.yaml"),
        (":8:17:", "network references are refused", "hint: vendor the file"),
    ),
    Case(
        "http_metadata",
        ref_spec("http://169.254.169.254/latest/meta-data/"),
        (":8:17:", "network references are refused", "hint: vendor the file"),
    ),
    Case(
        "ref_cycle",
        HEAD
        + "paths:\n  /a:\n    get:\n      responses:\n"
        + "        '200': {$ref: '#/components/responses/A'}\n"
        + "components:\n  responses:\n"
        + "    A: {$ref: '#/components/responses/B'}\n"
        + "    B: {$ref: '#/components/responses/A'}\n",
        ("a $ref cycle with no content", "#/components/responses/A", "hint: point one"),
    ),
    Case("alias_bomb", bomb(), ("YAML alias bomb", "hint: remove the repeated aliases")),
    Case(
        "deep_yaml",
        HEAD + "paths: {}\nx-deep: " + "[" * 50_000 + "]" * 50_000 + "\n",
        ("nesting deeper than 200 levels",),
    ),
    Case(
        "deep_json",
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {}, "x": '
        + '{"a": ' * 50_000
        + "1"
        + "}" * 50_000
        + "}",
        ("JSON nested too deeply",),
    ),
    Case(
        "huge",
        (HEAD + 'paths: {}\nx-pad: "').encode() + b"a" * (17 << 20) + b'"\n',
        ("over the 16,777,216-byte limit", "hint: split the spec"),
    ),
    Case(
        "not_utf8",
        HEAD.replace("title: t", 'title: "caf\xe9"').encode("latin-1") + b"paths: {}\n",
        ("not UTF-8 text (byte 33)", "hint: save the file as UTF-8"),
    ),
    Case(
        "python_object_apply",
        HEAD + 'paths: {}\nx: !!python/object/apply:os.system ["touch @PWNED@"]\n',
        (":4:4:", "could not determine a constructor for the tag"),
    ),
    Case(
        "python_object",
        'openapi: 3.0.3\ninfo: !!python/object:builtins.dict {title: t, version: "1"}\npaths: {}\n',
        (":2:7:", "could not determine a constructor for the tag"),
    ),
    Case(
        "json_duplicate_keys",
        '{"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": {'
        '"/a": {"get": {"responses": {"200": {"description": "ok"}}}}, '
        '"/a": {"delete": {"responses": {"200": {"description": "ok"}}}}}}',
        ("duplicate key '/a'", "hint: keep one"),
    ),
    Case(
        "yaml_duplicate_keys",
        HEAD + "paths:\n  /a:\n    get:\n      responses: {'200': {description: ok}}\n"
        "  /a:\n    delete:\n      responses: {'200': {description: ok}}\n",
        (":7:3:", "duplicate key '/a'", "keep one of the two entries"),
    ),
    Case(
        "yaml_duplicate_keys_in_flow",
        HEAD + "paths:\n  /a:\n    get:\n      responses: {'200': {description: a}, "
        "'200': {description: b}}\n",
        (":6:44:", "duplicate key '200'"),
    ),
    Case(
        "path_dotdot",
        HEAD + "paths:\n  /files/../../admin:\n    get:\n"
        "      responses: {'200': {description: ok}}\n",
        (":4:3:", "#/paths/~1files~1..~1..~1admin", "'.' or '..' segment", "hint:"),
    ),
    Case(
        "path_encoded_dotdot",
        HEAD + "paths:\n  /x/%2e%2e/y:\n    get:\n      responses: {'200': {description: ok}}\n",
        (":4:3:", "#/paths/~1x~1%2e%2e~1y", "'.' or '..' segment", "hint:"),
    ),
]


@dataclass
class World:
    tmp: Path
    repo: Path
    home: Path
    outside: Path  # the canary file, outside the repository
    pwned: Path  # what a constructed Python object would create
    recorder: ConnectionRecorder


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    outside = tmp_path / "outside.yaml"
    outside.write_text(f"description: {CANARY}\n", encoding="utf-8")
    repo = tmp_path / "a" / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    home = tmp_path / "plog-home"
    home.mkdir()
    with ConnectionRecorder() as recorder:
        yield World(tmp_path, repo, home, outside, tmp_path / "PWNED", recorder)
        assert recorder.connections == 0, "a $ref reached the loopback listener"


def _fill(w: World, text: str) -> str:
    return (
        text.replace(HTTP_PORT, str(w.recorder.port))
        .replace("@OUTSIDE@", str(w.outside))
        .replace("@PWNED@", str(w.pwned))
    )


def write_case(w: World, case: Case) -> str:
    """Write the case's spec (and links) into the repository; its file name."""
    name = "hostile.json" if case.name.startswith(("deep_json", "json_")) else "hostile.yaml"
    content = case.content
    data = _fill(w, content).encode() if isinstance(content, str) else content
    (w.repo / name).write_bytes(data)
    (w.repo / "base.yaml").write_text(BASE, encoding="utf-8")
    for link, target in case.links:
        os.symlink(_fill(w, target), w.repo / link)
    if case.name == "fifo":
        os.mkfifo(w.repo / "fifo.yaml")
    return name


def plog(w: World, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        cwd=cwd or w.repo,
        env={**os.environ, "PLOG_HOME": str(w.home), "CANARY_SECRET": CANARY},
        capture_output=True,
        text=True,
        errors="replace",
        timeout=120,
    )


def assert_nothing_leaked(w: World, *texts: str) -> None:
    """No canary, no /etc/passwd line, no Python object built, in any output or file."""
    for text in texts:
        assert CANARY not in text
        assert "root:x:0:0" not in text
        assert "Traceback" not in text
    assert not w.pwned.exists(), "a !!python tag ran code"
    for root in (w.repo, w.home):
        for path in root.rglob("*"):
            if path.is_symlink() or not path.is_file() or ".git" in path.parts:
                continue
            data = path.read_bytes()
            assert CANARY.encode() not in data, f"the canary reached {path}"
            assert b"root:x:0:0" not in data, f"/etc/passwd reached {path}"


def assert_refused(w: World, res: subprocess.CompletedProcess[str], name: str, case: Case) -> None:
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert name in out, out
    flat = " ".join(out.split())  # the terminal may wrap the message
    for needle in case.needles:
        assert " ".join(_fill(w, needle).split()) in flat, f"{needle!r} not in:\n{out}"
    assert_nothing_leaked(w, res.stdout, res.stderr)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plog_diff_refuses_the_spec_file(world: World, case: Case) -> None:
    name = write_case(world, case)
    res = plog(world, "diff", "base.yaml", name)
    assert_refused(world, res, name, case)


@pytest.mark.parametrize(
    "case", [c for c in CASES if not c.disk_only], ids=[c.name for c in CASES if not c.disk_only]
)
def test_plog_diff_refuses_the_committed_spec(world: World, case: Case) -> None:
    name = write_case(world, case)
    commit_files(world.repo, {}, "hostile spec")
    res = plog(world, "diff", "HEAD:base.yaml", f"HEAD:{name}", "--repo", str(world.repo))
    assert_refused(world, res, name, case)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_plog_gen_refuses_the_spec_and_writes_nothing(world: World, case: Case) -> None:
    name = write_case(world, case)
    out = world.tmp / "out.js"
    res = plog(world, "gen", name, "-o", str(out))
    assert_refused(world, res, name, case)
    assert not out.exists()


# Text a spec author controls that reaches the generated script: path parameter
# examples, header names, request body keys and values.
INJECTED = {
    "quote_breakout": '"+globalThis.pwned+"\'${__ENV.CANARY_SECRET}</script>',
    "template": "`${globalThis.q=1}`",
    "html": "</script><img src=x onerror=alert(1)>",
    "key": 'k"; throw new Error("pwned"); "',
}
INJECTION_SPEC = f"""\
openapi: 3.0.3
info: {{title: "<script>alert(1)</script>", version: "1"}}
servers: [{{url: "http://127.0.0.1:9"}}]
paths:
  "/a/{{id}}":
    post:
      operationId: {json.dumps(INJECTED["key"])}
      summary: {json.dumps(INJECTED["html"] + INJECTED["template"])}
      description: {json.dumps(INJECTED["quote_breakout"])}
      parameters:
        - name: id
          in: path
          required: true
          schema: {{type: string, example: {json.dumps(INJECTED["quote_breakout"])}}}
        - name: {json.dumps("X-" + INJECTED["template"])}
          in: header
          schema: {{type: string, example: {json.dumps(INJECTED["template"])}}}
        - name: q
          in: query
          schema: {{type: string, example: {json.dumps(INJECTED["html"])}}}
      requestBody:
        content:
          application/json:
            schema: {{type: object}}
            example: {{{json.dumps(INJECTED["key"])}: {json.dumps(INJECTED["html"])}}}
      responses: {{"200": {{description: "<b>ok</b>"}}}}
"""


def test_spec_text_reaches_the_k6_script_only_json_encoded(world: World) -> None:
    (world.repo / "openapi.yaml").write_text(INJECTION_SPEC, encoding="utf-8")
    out = world.tmp / "out.js"
    res = plog(world, "gen", "openapi.yaml", "-o", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
    assert_nothing_leaked(world, res.stdout, res.stderr)
    script = out.read_text(encoding="utf-8")
    head, _, rest = script.partition("const PLAN = ")
    literal, _, tail = rest.partition(";\n")
    plan = json.loads(literal)  # the spec's text lives in one JSON literal
    (op,) = plan["operations"]
    # The plan holds wire text: the path value percent-encoded, the body as JSON text.
    assert unquote(op["pathValues"]["id"]) == INJECTED["quote_breakout"]
    assert json.loads(op["body"]) == {INJECTED["key"]: INJECTED["html"]}
    for text in (head, tail):  # and nowhere else in the script
        for token in ("pwned", "globalThis.q", "onerror", "CANARY_SECRET", "<script"):
            assert token not in text
    for raw in ("</script", "<img"):
        assert raw not in script
    inspect = k6_inspect(script, world.tmp)
    assert inspect.returncode == 0, inspect.stderr
    assert "pwned" not in inspect.stdout + inspect.stderr


# plog run: a committed spec as a pusher would write it.
def _petstore(w: World, spec: str) -> None:
    commit_files(
        w.repo,
        {
            "app.py": (EXAMPLE / "app.py").read_text(encoding="utf-8"),
            "openapi.yaml": spec,
            "plog.yml": FAST_PLOG_YML,
        },
        "petstore",
    )


def _run(w: World) -> subprocess.CompletedProcess[str]:
    return plog(w, "run", "--repo", str(w.repo), "--head", "HEAD", "--home", str(w.home))


def test_plog_run_refuses_a_spec_that_refs_outside_the_repository(world: World) -> None:
    petstore = (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8")
    _petstore(world, petstore)
    hostile = petstore.replace(
        "openapi:",
        f"x-leak: {{$ref: '../../outside.yaml'}}\nx-net: {{$ref: "
        f"'http://127.0.0.1:{world.recorder.port}/x.yaml'}}\nopenapi:",
        1,
    )
    commit_files(world.repo, {"openapi.yaml": hostile}, "hostile spec")
    res = _run(world)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "openapi.yaml" in out and "$ref" in out and "hint:" in out, out
    assert_nothing_leaked(world, res.stdout, res.stderr)


@pytest.mark.slow
def test_plog_run_report_holds_no_raw_html_from_the_spec(world: World) -> None:
    petstore = (EXAMPLE / "openapi.yaml").read_text(encoding="utf-8")
    _petstore(world, petstore)
    # The head changes descriptions and summaries to markup; the changelog quotes them.
    # (replacing the description: a second one would be a duplicate key, refused)
    hostile = re.sub(
        r"(?m)^  description: .*$", "  description: \"<script>alert('info')</script>\"", petstore, 1
    )
    hostile = re.sub(r"(?m)^ +summary: .*\n", "", hostile)  # each operation gets a new one
    lines = []
    for line in hostile.splitlines():
        lines.append(line)
        stripped = line.strip()
        if stripped.startswith(("get:", "post:")) and stripped.endswith(":"):
            indent = " " * (len(line) - len(line.lstrip()) + 2)
            lines.append(
                f'{indent}summary: "<img src=x onerror=alert(1)><script>alert(2)</script>'
                f' ${{__ENV.CANARY_SECRET}} `x` \'\\""'
            )
    hostile = "\n".join(lines) + "\n"
    # And an added operation whose path is markup: the report names it.
    hostile = hostile.replace(
        "paths:\n",
        "paths:\n  /pets/<img src=x onerror=alert(1)>/<script>alert(2)</script>:\n"
        "    get:\n      responses: {'200': {description: ok}}\n"
        "  /x/```<img src=y onerror=alert(3)>:\n"
        "    get:\n      responses: {'200': {description: ok}}\n",
        1,
    )
    commit_files(world.repo, {"openapi.yaml": hostile}, "hostile descriptions")
    res = _run(world)
    out = res.stdout + res.stderr
    assert res.returncode in (0, 1), out
    assert_nothing_leaked(world, res.stdout, res.stderr)
    reports = [
        p for root in (world.repo, world.home) for p in root.rglob("*.md") if ".git" not in p.parts
    ]
    notes = "".join(
        subprocess.run(
            ["git", "-C", str(world.repo), "log", "-p", "--format=%B", ref, "--"],
            capture_output=True,
            text=True,
            errors="replace",
        ).stdout
        for ref in (NOTES_REF, REPORTS_REF)
    )
    texts = {"notes": notes} | {
        str(p): p.read_text(encoding="utf-8", errors="replace") for p in reports
    }
    assert reports, out
    assert all("onerror=alert(3)" in texts[str(p)] for p in reports), "no markup reached a report"
    for where, text in texts.items():
        # '\<' is an escaped, literal '<' in markdown; a bare one would start a tag.
        raw = re.findall(r"(?<!\\)<(?:script|img)", outside_code_blocks(text), re.IGNORECASE)
        assert not raw, f"raw {raw} in {where}"


def outside_code_blocks(markdown: str) -> str:
    """The markdown without its fenced code blocks (text there is shown, never rendered)."""
    kept, fence = [], ""
    for line in markdown.splitlines():
        lead = line[: len(line) - len(line.lstrip(" "))]
        mark = line.lstrip(" ")[:3]
        if len(lead) <= 3 and mark in ("```", "~~~") and (not fence or mark == fence):
            fence = "" if fence else mark
            continue
        if not fence:
            kept.append(line)
    return "\n".join(kept)
