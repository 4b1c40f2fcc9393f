"""``plog run`` with ``deploy.target: podman`` end to end: the example service built
from its Containerfile at the commit, pushed to a real registry (htpasswd, TLS from a
test CA) and run by digest, loaded by k6, its resources read from the container's
cgroup; a failing build and a wrong password end with a clear status; nothing is
left running and the registry password is nowhere."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from plog_ci.deploy.podman import home_label
from plog_ci.pipeline import RunRequest, run
from plog_ci.store.sqlite import open_store
from testing.container_tools import Containers, base_image, containers, registry
from testing.k6_tools import need_k6
from testing.paths import EXAMPLE
from testing.podman_config import podman_plog_yml
from testing.repos import commit_files

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tools() -> Containers:
    need_k6()
    return containers()


@pytest.fixture
def repo_with(
    new_repo: Callable[..., Path], tools: Containers
) -> Iterator[Callable[[str, str | None], Path]]:
    base = base_image(tools)

    def make(registry_yml: str = "", containerfile: str | None = None) -> Path:
        repo = new_repo("petstore")
        files: dict[str, str | bytes] = {
            name: (EXAMPLE / name).read_text(encoding="utf-8")
            for name in ("app.py", "openapi.yaml", "Containerfile")
        }
        if containerfile is not None:
            files["Containerfile"] = containerfile
        files["plog.yml"] = podman_plog_yml(base, registry=registry_yml)
        commit_files(repo, files, "petstore in a container")
        return repo

    yield make


def _left(tools: Containers, home: Path) -> list[str]:
    return tools.labelled(home_label(home))


def test_built_pushed_pulled_by_digest_and_measured_in_its_cgroup(
    repo_with: Callable[[str, str | None], Path],
    tools: Containers,
    plog_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with registry(tmp_path / "registry") as reg:
        assert reg.cert_dir is not None
        ca = (reg.cert_dir / "ca.crt").read_text(encoding="utf-8")
        registry_yml = (
            "  registry:\n"
            f"    url: {reg.host}\n"
            "    repository: team/petstore\n"
            f"    username: {reg.username}\n"
            "    password_env: PLOG_TEST_REGISTRY_PASSWORD\n"
            "    ca_file: ca.pem\n"
        )
        repo = repo_with(registry_yml, None)
        commit_files(repo, {"ca.pem": ca}, "the registry's CA")
        monkeypatch.setenv("PLOG_TEST_REGISTRY_PASSWORD", reg.password)
        outcome = run(RunRequest(repo=repo, head="HEAD", branch="main"))
        assert outcome.status == "pass", outcome.summary
        store = open_store(plog_home)
        record = store.get_run(outcome.run_id or 0)
        stats = store.operation_stats(record.id)
        assert stats["GET /pets"].count > 0 and stats["GET /pets"].failures == 0
        # Resources came from the container's cgroup while the load ran.
        samples = store.resources(record.id, "head")
        assert len(samples) >= 2 and max(rss for _, _, rss in samples) > 0
        # The registry holds the commit's image, tagged with the commit.
        listed = httpx.get(
            f"https://{reg.host}/v2/team/petstore/tags/list",
            auth=(reg.username, reg.password),
            verify=reg.verify(),
            timeout=10,
        )
        assert outcome.head_sha in listed.json()["tags"]
        # Nothing is left running, and the password is in no report, row or log.
        assert _left(tools, plog_home) == []
        haystack = [outcome.report_markdown, json.dumps(record.verdict)]
        haystack += [p.read_text(errors="replace") for p in plog_home.rglob("*") if p.is_file()]
        assert not [h for h in haystack if reg.password in h]


def test_a_failing_build_names_its_step_and_leaves_nothing(
    repo_with: Callable[[str, str | None], Path], tools: Containers, plog_home: Path
) -> None:
    broken = (
        (EXAMPLE / "Containerfile")
        .read_text(encoding="utf-8")
        .replace("WORKDIR /app", "WORKDIR /app\nRUN echo compiling && false")
    )
    repo = repo_with("", broken)
    outcome = run(RunRequest(repo=repo, head="HEAD", branch="main"))
    assert outcome.status == "error", outcome.summary
    assert "RUN echo compiling && false" in outcome.summary
    assert "compiling" in outcome.summary  # the step's last lines
    assert _left(tools, plog_home) == []


def test_a_wrong_registry_password_is_a_clear_error_without_the_password(
    repo_with: Callable[[str, str | None], Path],
    tools: Containers,
    plog_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with registry(tmp_path / "registry", tls=False) as reg:
        registry_yml = (
            "  registry:\n"
            f"    url: http://{reg.host}\n"
            "    repository: team/petstore\n"
            f"    username: {reg.username}\n"
            "    password_env: PLOG_TEST_REGISTRY_PASSWORD\n"
        )
        repo = repo_with(registry_yml, None)
        canary = "canary-Xy12-not-the-password"
        monkeypatch.setenv("PLOG_TEST_REGISTRY_PASSWORD", canary)
        outcome = run(RunRequest(repo=repo, head="HEAD", branch="main"))
    assert outcome.status == "error"
    assert "PLOG_TEST_REGISTRY_PASSWORD" in outcome.summary
    assert canary not in outcome.summary
    assert _left(tools, plog_home) == []
    for path in plog_home.rglob("*"):
        if path.is_file():
            assert canary not in path.read_text(errors="replace"), path
