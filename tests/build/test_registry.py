"""push and pull_by_digest against a real registry (Debian docker-registry, htpasswd, TLS)."""

from __future__ import annotations

import base64
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from plog_ci import proc
from plog_ci.build.errors import RegistryAuthError, RegistryError
from plog_ci.build.image import build_image, image_labels
from plog_ci.build.registry import Access, pull_by_digest, push, registry_host
from plog_ci.deploy.containers import Containers
from plog_ci.deploy.process import free_port
from plog_ci.errors import DependencyError, ExitCode, InputError
from testing.container_tools import Registry, base_image, containers, registry

CONTAINERFILE = "FROM {base}\nCOPY app.py /app/app.py\n"
VAR = "PLOG_TEST_REGISTRY_PASSWORD"


@pytest.fixture(scope="module")
def tools() -> Containers:
    return containers()


@pytest.fixture(scope="module")
def image(tools: Containers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small image of our own (tag unique to this module's run)."""
    tree = tmp_path_factory.mktemp("tree")
    (tree / "app.py").write_text(f"print({uuid.uuid4().hex!r})\n")
    (tree / "Containerfile").write_text(CONTAINERFILE.format(base=base_image(tools)))
    tag = f"localhost/plog-test-push-{uuid.uuid4().hex[:12]}:one"
    built = build_image(
        tools, tree, containerfile="Containerfile", context=".", args={}, target=None, tag=tag,
        labels=image_labels(repository="team/petstore", commit="c" * 40),
        log_path=tree.parent / "build.log", timeout_s=300,
    )  # fmt: skip
    yield built.id
    tools.podman("rmi", "--force", tag, check=False)


@pytest.fixture
def argvs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """Every argv that goes through plog_ci.proc.run during the test."""
    seen: list[tuple[str, ...]] = []
    real = proc.run

    def spy(argv: Sequence[str], **kw: Any) -> proc.Result:
        seen.append(tuple(str(a) for a in argv))
        return real(argv, **kw)

    monkeypatch.setattr(proc, "run", spy)
    return seen


def _auth_dirs() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("plog-run-auth-*")}


def _access(reg: Registry, password: str | None = None) -> Access:
    assert reg.cert_dir is not None
    return Access(
        reg.host,
        username=reg.username,
        password=reg.password if password is None else password,
        password_env=VAR,
        ca_file=reg.cert_dir / "ca.crt",
    )


def _files_holding(root: Path, needles: Sequence[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


@pytest.mark.slow
def test_push_with_auth_gives_the_registrys_digest_and_pull_by_digest_gets_it(
    tools: Containers,
    image: str,
    tmp_path: Path,
    argvs: list[tuple[str, ...]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = _auth_dirs()
    log = tmp_path / "push.log"
    with registry(tmp_path / "registry") as reg:
        access = _access(reg)
        started = time.monotonic()
        pushed = push(tools, image, access=access, repository="team/petstore", tag="c" * 12,
                      log_path=log)  # fmt: skip
        push_s = time.monotonic() - started
        assert pushed.reference == f"{reg.host}/team/petstore@{pushed.digest}"
        assert pushed.tagged == f"{reg.host}/team/petstore:{'c' * 12}"
        # The digest is the registry's: its manifest answers to it.
        manifest = httpx.get(
            f"https://{reg.host}/v2/team/petstore/manifests/{'c' * 12}",
            auth=(reg.username, reg.password),
            verify=reg.verify(),
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
        )
        assert manifest.status_code == 200
        assert manifest.headers["Docker-Content-Digest"] == pushed.digest
        assert manifest.json()["config"]["digest"] == image  # what was built is what is there
        assert manifest.json()["annotations"]["dev.plog.commit"] == "c" * 40

        tools.podman("rmi", "--force", pushed.reference, check=False)
        pulled = pull_by_digest(tools, pushed.reference, access=access, log_path=log)
        assert pulled == image
    assert _auth_dirs() == before  # the auth file's folder is gone
    secret_forms = [reg.password, base64.b64encode(f"plog:{reg.password}".encode()).decode()]
    assert not [a for argv in argvs for a in argv if any(s in a for s in secret_forms)]
    assert any(argv[1] == "push" and "--authfile" in argv for argv in argvs)
    out, err = capfd.readouterr()
    assert reg.password not in out + err
    assert _files_holding(tmp_path, secret_forms) == []
    assert "$ podman push" in log.read_text() and "$ podman pull" in log.read_text()
    print(f"push {push_s:.2f} s")


@pytest.mark.slow
def test_a_wrong_password_is_named_without_the_password(
    tools: Containers,
    image: str,
    tmp_path: Path,
    argvs: list[tuple[str, ...]],
    capfd: pytest.CaptureFixture[str],
) -> None:
    canary = f"canary-Xy12-{secrets.token_hex(4)}"
    forms = [canary, base64.b64encode(f"plog:{canary}".encode()).decode()]
    log = tmp_path / "push.log"
    before = _auth_dirs()
    with registry(tmp_path / "registry") as reg:
        with pytest.raises(RegistryAuthError) as caught:
            push(tools, image, access=_access(reg, canary), repository="team/petstore",
                 tag="bad", log_path=log)  # fmt: skip
        error = caught.value
        assert error.message == (
            f"registry {reg.host} refused the credentials of plog (password from ${VAR})"
        )
        assert error.exit_code == ExitCode.INVALID_INPUT
        with pytest.raises(RegistryAuthError, match="refused the credentials"):
            pull_by_digest(tools, f"{reg.host}/team/petstore@sha256:{'0' * 64}",
                           access=_access(reg, canary))  # fmt: skip
        with pytest.raises(RegistryAuthError, match="requires credentials"):
            push(tools, image, access=Access(reg.host, ca_file=_access(reg).ca_file),
                 repository="team/petstore", tag="anon")  # fmt: skip
    assert _auth_dirs() == before
    assert "unauthorized" in log.read_text()  # podman's own words are kept, redacted
    for text in (str(error), repr(error), log.read_text(), *(" ".join(a) for a in argvs)):
        assert not any(f in text for f in forms), text
    out, err = capfd.readouterr()
    assert not any(f in out + err for f in forms)
    assert _files_holding(tmp_path, forms) == []


@pytest.mark.slow
def test_unreachable_and_untrusted_registries(
    tools: Containers, image: str, tmp_path: Path
) -> None:
    nobody = Access(f"127.0.0.1:{free_port()}", username="plog", password="x" * 8,
                    tls_verify=False)  # fmt: skip
    with pytest.raises(DependencyError, match="is unreachable") as caught:
        push(tools, image, access=nobody, repository="team/petstore", tag="x", timeout_s=60)
    assert caught.value.exit_code == ExitCode.MISSING_DEPENDENCY
    with registry(tmp_path / "registry") as reg:
        untrusted = Access(reg.host, username=reg.username, password=reg.password)
        with pytest.raises(RegistryError, match="TLS certificate is not trusted") as failed:
            push(tools, image, access=untrusted, repository="team/petstore", tag="x")
        assert failed.value.hint is not None and "ca_file" in failed.value.hint


def test_references_and_hosts_are_checked_before_podman_runs(tmp_path: Path) -> None:
    absent = Containers("/nonexistent/podman", "/nonexistent/buildah", "/nonexistent/skopeo", {})
    access = Access("registry.example.com:5000", username="u", password="p" * 8)
    for reference in (
        "registry.example.com:5000/team/app:latest",
        "other.example.com/team/app@sha256:" + "0" * 64,
        "registry.example.com:5000/team/app@sha256:abc",
    ):
        with pytest.raises(InputError):
            pull_by_digest(absent, reference, access=access)
    for repository in ("Team/App", "team//app", "team/app:tag", "../etc", '"><img onerror=x>'):
        with pytest.raises(InputError, match="lower-case path"):
            push(absent, "sha256:" + "0" * 64, access=access, repository=repository, tag="t")
    with pytest.raises(InputError, match="without a username"):
        push(absent, "img", access=Access("r.example.com", password="p" * 8),
             repository="team/app", tag="t")  # fmt: skip
    missing_ca = Access("r.example.com", ca_file=tmp_path / "nope.crt")
    with pytest.raises(InputError, match="is not a file"):
        push(absent, "img", access=missing_ca, repository="team/app", tag="t")
    assert registry_host("https://harbor.example.com/") == "harbor.example.com"
    assert registry_host("127.0.0.1:5000") == "127.0.0.1:5000"
    with pytest.raises(InputError):
        registry_host("https://harbor.example.com/team")
