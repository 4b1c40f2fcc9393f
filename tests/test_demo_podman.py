"""``plog demo --target podman``: the demo's two commits built with buildah, pushed to
a local registry and run by digest with podman give the process demo's verdicts
(PASS, then FAIL naming the slowed handler's operation), and leave no container
and no registry running; bad input fails at once with what to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from plog_ci.config.parse import parse_config
from plog_ci.demo_podman import DEFAULT_BASE, REPOSITORY, podman_plog_yml
from plog_ci.deploy.containers import Containers
from plog_ci.deploy.podman import home_label
from testing.container_tools import base_image, containers
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE

SLOWED = "GET /pets/{petId}"  # the handler commit 2 slows (plog_ci.demo)


def plog(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plog_ci", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _processes_under(folder: Path) -> list[str]:
    """Command lines of live processes that name ``folder`` (a registry, a service)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(folder) in cmdline:
            found.append(cmdline)
    return found


def _containers_of(tools: Containers, root: Path) -> list[str]:
    """Every container (running or not) of the demo's state directory."""
    return tools.labelled(home_label(root / "plog-home"))


@pytest.fixture(scope="module")
def tools() -> Containers:
    return containers()


@pytest.mark.slow
def test_podman_demo_passes_then_fails_on_the_slowed_operation(
    tmp_path: Path, tools: Containers
) -> None:
    need_k6()
    base = base_image(tools)
    root = tmp_path / "demo"
    result = plog(
        "demo", "--target", "podman", "--base-image", base, "--workdir", str(root), timeout=500
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    verdicts = [line.split()[0] for line in lines if line.startswith(("PASS", "FAIL"))]
    assert verdicts == ["PASS", "FAIL"], result.stdout
    fail_line = next(line for line in lines if line.startswith("FAIL"))
    assert SLOWED in fail_line, fail_line
    assert f"base image: {base}" in result.stdout
    assert "registry: docker-registry on http://127.0.0.1:" in result.stdout
    assert "with containers (podman)" in result.stdout
    # Both commits' images went through the registry, tagged with their commit.
    commits = subprocess.run(
        ["git", "-C", str(root / "petstore"), "rev-list", "main"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    tags = root / "registry" / "data" / "docker" / "registry" / "v2" / "repositories"
    tags = tags / REPOSITORY / "_manifests" / "tags"
    assert sorted(p.name for p in tags.iterdir()) == sorted(commits)
    # The demo repository is the container kind: its plog.yml and Containerfile.
    committed = (root / "petstore" / "plog.yml").read_text(encoding="utf-8")
    assert "target: podman" in committed and (root / "petstore" / "Containerfile").is_file()
    # Nothing is left: no container of the demo's state, no registry, no service.
    assert _containers_of(tools, root) == []
    assert _processes_under(root) == []


def test_a_base_image_that_does_not_exist_fails_at_once_and_leaves_nothing(
    tmp_path: Path, tools: Containers
) -> None:
    root = tmp_path / "demo"
    missing = "localhost/plog-no-such-base:never"
    result = plog("demo", "--target", "podman", "--base-image", missing, "--workdir", str(root))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--base-image: the base image {missing} is not here" in result.stderr
    assert "debootstrap --variant=minbase" in result.stderr  # the recipe of a local base
    assert "CONTAINERS_STORAGE_CONF=" in result.stderr  # ...into PLog's own storage
    assert not (root / "petstore").exists() and not (root / "registry").exists()
    assert _containers_of(tools, root) == []
    assert _processes_under(root) == []


def test_the_default_base_unpullable_says_pass_base_image(
    tmp_path: Path, tools: Containers, monkeypatch: pytest.MonkeyPatch
) -> None:
    if tools.podman("image", "exists", DEFAULT_BASE, check=False).returncode == 0:
        pytest.skip(f"{DEFAULT_BASE} is in the store here: nothing to pull")
    # Offline here anyway; blocking docker.io makes the pull fail on any network.
    blocked = tmp_path / "registries.conf"
    blocked.write_text('[[registry]]\nlocation = "docker.io"\nblocked = true\n')
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(blocked))
    root = tmp_path / "demo"
    result = plog("demo", "--target", "podman", "--workdir", str(root))
    assert result.returncode == 4, result.stdout + result.stderr
    assert f"the base image {DEFAULT_BASE} is not here and could not be pulled" in result.stderr
    assert "pass --base-image IMAGE" in result.stderr
    assert not (root / "petstore").exists()
    assert _processes_under(root) == []


def test_podman_options_need_the_podman_target_and_a_registry_address(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    process = plog("demo", "--base-image", "localhost/x:1", "--workdir", str(root))
    assert process.returncode == 2
    assert "--base-image and --registry go with --target podman" in process.stderr
    pathy = plog("demo", "--target", "podman", "--registry", "http://127.0.0.1:5000/team")
    assert pathy.returncode == 2
    assert "--registry:" in pathy.stderr and "has a path" in pathy.stderr
    assert not (root / "petstore").exists()


@pytest.mark.parametrize(
    "image",
    ['"><img onerror=x>', "${HOME}:javascript:alert(1)", "<script>alert(1)</script>"],
)
def test_the_base_image_is_written_into_plog_yml_as_text(image: str) -> None:
    text = podman_plog_yml(EXAMPLE, base_image=image, registry_url="http://127.0.0.1:5000")
    config = parse_config(text)
    assert config.deploy.build is not None and config.deploy.build.args == (("BASE", image),)
    assert config.deploy.registry is not None
    assert config.deploy.registry.url == "http://127.0.0.1:5000"
    assert config.deploy.registry.repository == REPOSITORY
    assert config.deploy.registry.secure is False  # plain HTTP: podman --tls-verify=false
    local = parse_config(podman_plog_yml(EXAMPLE, base_image=image, registry_url=None))
    assert local.deploy.registry is None and local.deploy.target == "podman"
