"""build_image with real buildah: cache reuse, labels and annotations, failures."""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from plog_ci import __version__
from plog_ci.build.errors import BuildError
from plog_ci.build.image import BuiltImage, build_image, image_labels
from plog_ci.deploy.containers import Containers
from plog_ci.errors import ExitCode, InputError
from testing.container_tools import base_image, containers
from testing.paths import EXAMPLE

CONTAINERFILE = """\
FROM {base}
WORKDIR /app
COPY app.py /app/app.py
CMD ["python3", "/app/app.py", "--host", "0.0.0.0", "--port", "8080"]
"""
HOSTILE = '"><img onerror=x> ${HOME} `id` $(id)'


@pytest.fixture(scope="module")
def tools() -> Containers:
    return containers()


@pytest.fixture
def tags(tools: Containers) -> Iterator[list[str]]:
    """Tags the test creates; untagged afterwards (the cached layers stay)."""
    made: list[str] = []
    yield made
    for tag in made:
        tools.podman("rmi", "--force", tag, check=False)


def _tree(root: Path, tools: Containers, containerfile: str = CONTAINERFILE) -> Path:
    root.mkdir(parents=True)
    shutil.copy(EXAMPLE / "app.py", root / "app.py")
    (root / "Containerfile").write_text(containerfile.format(base=base_image(tools)))
    return root


def _build(
    tools: Containers,
    tree: Path,
    tags: list[str],
    commit: str,
    log: Path,
    **kw: object,
) -> BuiltImage:
    tag = f"localhost/plog-test-build-{uuid.uuid4().hex[:12]}:{commit[:12]}"
    tags.append(tag)
    options: dict[str, object] = {
        "containerfile": "Containerfile",
        "context": ".",
        "args": {},
        "target": None,
        "labels": image_labels(
            repository="team/petstore",
            commit=commit,
            source="https://git.example.com/team/petstore",
            created="2026-01-02T03:04:05Z",
        ),
        "timeout_s": 300,
    } | kw
    return build_image(tools, tree, tag=tag, log_path=log, **options)  # type: ignore[arg-type]


@pytest.mark.slow
def test_unchanged_tree_reuses_the_image_and_carries_labels(
    tools: Containers, tags: list[str], tmp_path: Path
) -> None:
    tree = _tree(tmp_path / "tree", tools)
    commit = uuid.uuid4().hex + "00000000"  # unique: the first build cannot be reused
    first = _build(tools, tree, tags, commit, tmp_path / "first.log")
    again = _build(tools, tree, tags, commit, tmp_path / "again.log")
    print(f"first build {first.seconds:.2f} s, cached rebuild {again.seconds:.2f} s")
    assert not first.reused
    assert again.reused and again.id == first.id
    assert first.id.startswith("sha256:") and len(first.id) == 71
    assert again.seconds < 5
    assert any("Using cache" in line for line in again.tail)
    assert (tmp_path / "again.log").read_text().count("Using cache") >= 3

    inspect = tools.podman(
        "image", "inspect", "--format", "{{json .Labels}}|{{json .Annotations}}", first.id
    ).stdout
    labels, annotations = (json.loads(part) for part in inspect.split("|"))
    for found in (labels, annotations):
        assert found["org.opencontainers.image.revision"] == commit
        assert found["org.opencontainers.image.source"] == "https://git.example.com/team/petstore"
        assert found["org.opencontainers.image.created"] == "2026-01-02T03:04:05Z"
        assert found["dev.plog.repository"] == "team/petstore"
        assert found["dev.plog.commit"] == commit
        assert found["dev.plog.version"] == __version__

    # Another commit of the same tree: the layers are reused, the labels make a new image.
    other = _build(tools, tree, tags, uuid.uuid4().hex, tmp_path / "other.log")
    assert other.id != first.id and not other.reused
    with open(tree / "app.py", "a", encoding="utf-8") as fh:
        fh.write("# changed\n")
    changed = _build(tools, tree, tags, commit, tmp_path / "changed.log")
    assert changed.id != first.id and not changed.reused


def test_a_failing_step_is_named_with_its_last_lines(
    tools: Containers, tags: list[str], tmp_path: Path
) -> None:
    tree = _tree(
        tmp_path / "tree",
        tools,
        CONTAINERFILE + 'RUN echo "first line" && echo "last words" && false\nRUN true\n',
    )
    log = tmp_path / "logs" / "build.log"
    with pytest.raises(BuildError) as caught:
        _build(tools, tree, tags, "a" * 40, log)
    error = caught.value
    assert error.exit_code == ExitCode.INVALID_INPUT
    assert error.step == (5, 6)  # buildah says 5/12: a LABEL step per --label
    assert error.instruction == 'RUN echo "first line" && echo "last words" && false'
    first_line = str(error).splitlines()[0]
    assert first_line == (
        'build failed at step 5/6: `RUN echo "first line" && echo "last words" && false`'
    )
    assert "last words" in str(error) and "first line" in str(error)
    assert "exit status 1" in str(error)
    assert error.hint is not None and str(log) in error.hint
    assert 'STEP 5/12: RUN echo "first line"' in log.read_text()
    assert len(error.tail) <= 200


def test_build_args_are_argv_items_and_target_stops_early(
    tools: Containers, tags: list[str], tmp_path: Path
) -> None:
    two_stages = (
        "FROM {base} AS ready\n"
        "ARG GREETING\n"
        'RUN echo "arg=$GREETING"\n'
        "FROM ready AS broken\n"
        "RUN false\n"
    )
    tree = _tree(tmp_path / "tree", tools, two_stages)
    log = tmp_path / "build.log"
    built = _build(tools, tree, tags, "b" * 40, log, args={"GREETING": HOSTILE}, target="ready")
    assert built.id.startswith("sha256:")
    assert f"arg={HOSTILE}" in log.read_text()  # reached RUN as text: no shell on the way
    with pytest.raises(BuildError, match="RUN false") as caught:
        _build(tools, tree, tags, "b" * 40, tmp_path / "all.log", args={"GREETING": "x"})
    assert caught.value.step == (2, 2)  # "[2/2] STEP 2/8: RUN false": the second stage's
    with pytest.raises(InputError, match="not a build argument name"):
        _build(tools, tree, tags, "b" * 40, log, args={"A B": "x"})


@pytest.mark.slow
def test_a_build_past_its_timeout_is_stopped(
    tools: Containers, tags: list[str], tmp_path: Path
) -> None:
    marker = f"plog-test-sleep-{uuid.uuid4().hex[:8]}"
    tree = _tree(tmp_path / "tree", tools, CONTAINERFILE + f"RUN echo {marker} && sleep 60\n")
    started = time.monotonic()
    with pytest.raises(BuildError, match=r"timed out after 3 s at step 5/5: `RUN echo"):
        _build(tools, tree, tags, "c" * 40, tmp_path / "build.log", timeout_s=3)
    assert time.monotonic() - started < 20
    # Nothing of the build keeps running.
    left = [
        p for p in Path("/proc").iterdir() if p.name.isdigit() and marker.encode() in _cmdline(p)
    ]
    assert left == []


def _cmdline(pid_dir: Path) -> bytes:
    try:
        return (pid_dir / "cmdline").read_bytes()
    except OSError:
        return b""


def test_context_and_containerfile_stay_in_the_tree(tmp_path: Path) -> None:
    # Refused before any tool runs: tools that do not exist prove it.
    absent = Containers("/nonexistent/podman", "/nonexistent/buildah", "/nonexistent/skopeo", {})
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "Containerfile").write_text("FROM scratch\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "Containerfile").write_text("FROM scratch\n")
    os.symlink(outside, tree / "escape")
    os.symlink(outside / "Containerfile", tree / "Containerfile.link")
    cases = [
        ({"context": "escape"}, "outside the repository"),
        ({"context": "sub/../../outside"}, "outside the repository"),
        ({"context": str(outside)}, "must be relative"),
        ({"containerfile": "Containerfile.link"}, "outside the repository"),
        ({"containerfile": "escape/Containerfile"}, "outside the repository"),
        ({"context": "missing"}, "not a directory"),
        ({"containerfile": "sub"}, "not in the commit"),
    ]
    for override, message in cases:
        paths = {"containerfile": "Containerfile", "context": "."} | override
        with pytest.raises(InputError, match=message):
            build_image(
                absent, tree, args={}, target=None, tag="localhost/x:1", labels={},
                log_path=tmp_path / "log", timeout_s=10, **paths,
            )  # fmt: skip
    assert not (tmp_path / "log").exists()


def test_labels_default_to_the_commit_and_plogs_version() -> None:
    labels = image_labels(repository="team/svc", commit="abc123")
    assert labels == {
        "org.opencontainers.image.revision": "abc123",
        "dev.plog.repository": "team/svc",
        "dev.plog.commit": "abc123",
        "dev.plog.version": __version__,
    }
