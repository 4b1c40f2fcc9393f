"""The plog.yml ``plog init`` writes: what the scan found, each value commented with
the file it came from or ``guessed: why``, and ``TODO:`` placeholders
(``plog_ci.config.placeholders``) where nothing was found, which ``plog validate``
refuses at their line: a command found that only a shell could run is one, with
that command in a comment beside. ``load.auth`` is written when the spec's security
schemes give a guess (``plog_ci.config.auth_guess``). ``smoke_variant`` is the same
file cut to a short smoke test (``profile: smoke``, ``SMOKE_DURATION``, every
operation, no comparison), for the run ``plog init --run`` offers.
"""

from __future__ import annotations

import io
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from plog_ci.config import shell_syntax
from plog_ci.config.placeholders import placeholder
from plog_ci.config.project_scan import Finding, Scan

SMOKE_DURATION = "5s"
RUN_TODO = placeholder("the command that starts your service, e.g. python app.py --port {port}")
RUN_SHELL_TODO = placeholder("one command that needs no shell (the command found is beside)")
SPEC_TODO = placeholder("the path of your OpenAPI or Swagger file in the repository")
HEADER = """\
plog.yml written by `plog init`. Each value says where it came from: "found in FILE"
or "guessed: why" (check those). Values marked TODO: were not found; `plog validate`
refuses the file until they are replaced. Every key: the README, "plog.yml reference".
"""


def _flow(items: list[str]) -> CommentedSeq:
    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def document(scan: Scan) -> CommentedMap:
    """The plog.yml document for ``scan`` (ruamel round-trip types, with comments)."""
    doc = CommentedMap()
    doc.yaml_set_start_comment(HEADER)
    doc["version"] = 1
    service = CommentedMap()
    if scan.run_shell is not None:
        service["run"] = RUN_SHELL_TODO
        service.yaml_add_eol_comment(shell_comment(scan.run_shell), "run")
    else:
        _put(service, "run", scan.run, RUN_TODO, "not found: write the command (no shell runs it)")
    if scan.setup is not None:
        service["setup"] = CommentedSeq(scan.setup.value)
        service.yaml_add_eol_comment(
            f"{scan.setup.comment}; runs before the service starts", "setup"
        )
    if scan.setup_cache is not None:
        cache = CommentedMap()
        cache["key"] = _flow(scan.setup_cache.value["key"])
        cache["paths"] = _flow(scan.setup_cache.value["paths"])
        service["setup_cache"] = cache
        why = scan.setup_cache.source or "setup runs again only when these files change"
        service.yaml_add_eol_comment(
            f"guessed: {why}" if scan.setup_cache.guessed else why, "setup_cache"
        )
    if scan.port is not None:
        _put(service, "port", scan.port, 0, "")
    _put(service, "health", scan.health, "/", "")
    service["startup_timeout"] = "60s"
    doc["service"] = service
    _put(doc, "openapi", scan.spec, SPEC_TODO, "no OpenAPI or Swagger file found")
    load = CommentedMap()
    load["profile"] = "load"
    load["rate"] = 10
    load["duration"] = "30s"
    load["operations"] = "all"
    load.yaml_add_eol_comment("every operation; 'changed': those a commit changed", "operations")
    if scan.auth is not None:
        load["auth"] = CommentedMap(scan.auth.value)
        load.yaml_add_eol_comment(scan.auth.source, "auth")
    doc["load"] = load
    doc["gates"] = CommentedSeq(["error_rate < 1%", "p95 < 500ms"])
    doc["gates"].yaml_add_eol_comment("guessed: tighten once you know the service", 1)
    return doc


def shell_comment(found: Finding) -> str:
    """The comment beside ``RUN_SHELL_TODO``: the command found, what in it needs a
    shell, and what to write instead (one line: a comment ends at the line's end)."""
    command = " ".join(str(found.value).split())
    return (
        f"found {command!r} in {found.source}; {shell_syntax.problem(command)} "
        f"(hint: {shell_syntax.HINT})"
    )


def _put(node: CommentedMap, key: str, found: Finding | None, todo: Any, why: str) -> None:
    if found is None:
        node[key] = todo
        if why:
            node.yaml_add_eol_comment(why, key)
        return
    node[key] = found.value
    node.yaml_add_eol_comment(found.comment, key)


def smoke_variant(doc: CommentedMap) -> CommentedMap:
    """``doc`` with its load cut to a smoke test of every operation, no comparison."""
    smoke = CommentedMap(doc)
    smoke["load"] = CommentedMap(
        {"profile": "smoke", "duration": SMOKE_DURATION, "operations": "all"}
    )
    smoke["compare"] = CommentedMap({"mode": "off"})
    return smoke


def dump(doc: CommentedMap) -> str:
    yaml = YAML()
    yaml.width = 4096  # a long command stays on one line
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump(doc, out)
    text = out.getvalue()
    return text if text.endswith("\n") else text + "\n"
